"""The adaptive strategy: estimate difficulty, decide how much to spend, escalate on doubt.

The graph::

    prepare -> estimate_difficulty -> check_probes -> plan -> (route) -> attempts | select
    attempts (one Send branch per prompt) -> check -> (route) -> refine | select
    refine (the refine strategy, nested) -> (route) -> search | select
    search (the beam-search strategy, nested) -> select -> END

1. ``estimate_difficulty`` draws a few cheap probe samples (they also vote) and measures
   their disagreement.
2. ``plan`` grants the problem ``min(difficulty x tokens_per_difficulty, what remains)``
   tokens (at least ``min_allotment``), sets that as the phase limit every nested strategy
   obeys, and lists the phases the allotment affords by the thresholds: ``attempts`` always,
   ``refine`` from ``refine_from`` tokens, ``search`` from ``search_from`` tokens
   (`ponder.nodes.PlanPolicy`).
3. Easy problems stop at the probes when they all agree. Otherwise ``attempts`` runs several
   prompting strategies in parallel (program-aided among them), ``check`` verifies them, and
   each later phase runs only while nothing has verified, the evidence still disagrees
   (several answers, or rejected candidates), and its turn is in the plan and affordable.
4. ``select`` takes the best-scored answer when a verifier scored candidates, else the
   majority over every candidate (probes included).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.runtime import Runtime

from ponder.context import RunContext, context_of
from ponder.errors import ConfigurationError
from ponder.graphs.beam_search import BeamSearchConfig, build_beam_search
from ponder.graphs.config import StrategyConfig, option
from ponder.graphs.refine import RefineConfig, build_refine
from ponder.graphs.skeleton import Skeleton, StrategyGraph, StrategySpec, end_route, refusing_limit
from ponder.nodes import (
    PHASES,
    AttemptTask,
    PlanPolicy,
    approve_node,
    attempt_branch_node,
    difficulty_node,
    fan_out_attempts,
    plan_node,
    tally,
    verify_node,
)
from ponder.prompts import PromptName, PromptTemplate, resolve_prompt
from ponder.state import RunState, StopReason

__all__ = ("SPEC", "AdaptiveConfig", "build_adaptive")


@dataclass(frozen=True, kw_only=True, slots=True)
class AdaptiveConfig(StrategyConfig):
    """Options of the adaptive strategy."""

    tokens_per_difficulty: int = option(6000, "positive")
    """Tokens granted per unit of difficulty (difficulty is in [0, 1])."""
    min_allotment: int = option(1500, "positive")
    """Tokens granted however easy the problem looks."""
    refine_from: int = option(2000, "positive")
    """Allotment from which critique-and-refine is in the plan."""
    search_from: int = option(3000, "positive")
    """Allotment from which tree search is in the plan."""
    probe_samples: int = option(3, "positive")
    """Probe samples drawn to estimate difficulty."""
    prompts: tuple[PromptTemplate | PromptName, ...] = ()
    """The prompting strategies of the attempts phase (names or templates); by default
    few-shot, step-by-step and program-aided."""
    temperature: float = 0.7
    """Sampling temperature of attempts."""
    max_tokens: int = option(256, "positive")
    """Output cap of one attempt, in tokens."""
    confirm_before: tuple[str, ...] = ()
    """Phases (``refine``, ``search``) to ask approval for before spending on them: the run
    pauses with LangGraph's ``interrupt`` and goes on when resumed with an answer
    (``ponder.runs.aresume(run_id, approve=True)``). Needs a persisted run."""

    def __post_init__(self) -> None:
        StrategyConfig.__post_init__(self)
        owner = type(self).__name__
        prompts: Any = self.prompts or ("few_shot", "step_by_step", "program")
        if isinstance(prompts, (str, PromptTemplate)):
            prompts = (prompts,)  # one prompt given on its own
        resolved = tuple(resolve_prompt(p, f"{owner}.prompt") for p in prompts)
        object.__setattr__(self, "prompts", resolved)
        confirm: Any = self.confirm_before
        if isinstance(confirm, str):
            confirm = (confirm,)
        if not set(confirm) <= {"refine", "search"}:
            raise ConfigurationError(
                f"{owner}.confirm_before names phases refine and search only, got {confirm}"
            )
        object.__setattr__(self, "confirm_before", tuple(confirm))
        names = [p.name for p in resolved]
        if len(set(names)) != len(names):
            raise ConfigurationError(f"{owner}.prompts must have distinct names, got {names}")

    @property
    def templates(self) -> tuple[PromptTemplate, ...]:
        """The attempts phase's prompts, as templates."""
        return tuple(resolve_prompt(p) for p in self.prompts)

    @property
    def policy(self) -> PlanPolicy:
        """How the plan grants tokens by difficulty."""
        return PlanPolicy(
            tokens_per_difficulty=self.tokens_per_difficulty, min_allotment=self.min_allotment,
            refine_from=self.refine_from, search_from=self.search_from,
        )  # fmt: skip

    @property
    def recursion_limit(self) -> int:
        """LangGraph super-steps the strategy can need (its nested strategies included)."""
        return 60


def _doubtful(state: RunState) -> bool:
    """Whether the evidence still disagrees: several answers, or a rejected candidate."""
    candidates = state.get("candidates", [])
    if any(c["verdict"] == "accepted" for c in candidates):
        return False
    return len(tally(candidates)) != 1 or any(c["verdict"] == "rejected" for c in candidates)


def stop_reason(config: AdaptiveConfig, state: RunState, context: RunContext) -> StopReason | None:
    """Return why the adaptive strategy should stop escalating, or ``None`` to go on."""
    if state.get("stop_reason") == "error":
        return "error"
    recent = state.get("ledger", [])[-3:]
    if recent and not any(entry["ok"] for entry in recent):
        return "error"  # the model keeps failing: stop paying for calls that fail
    if any(c["verdict"] == "accepted" for c in state.get("candidates", [])):
        return "verified"
    if not _doubtful(state):
        return "converged"
    if refusing_limit(state, context, max_tokens=config.max_tokens) is not None:
        return "budget"
    return None


def route_after(config: AdaptiveConfig, phase: str, state: RunState, context: RunContext) -> str:
    """Return the next planned phase after ``phase`` (or its approval), else the end."""
    planned = (state.get("plan") or {"phases": []})["phases"]
    later = [p for p in PHASES[PHASES.index(phase) + 1 :] if p in planned]
    stop = stop_reason(config, state, context)
    if stop is not None:
        return end_route(stop, context, state)
    if not later:
        return "select"
    return f"approve_{later[0]}" if later[0] in config.confirm_before else later[0]


def build_adaptive(
    config: AdaptiveConfig | None = None, *, checkpointer: BaseCheckpointSaver[Any] | None = None
) -> StrategyGraph:
    """Build the adaptive graph.

    Example:
        >>> graph = build_adaptive()
        >>> {"estimate_difficulty", "plan", "attempts", "refine", "search"} <= set(
        ...     graph.get_graph().nodes)
        True
    """
    config = config or AdaptiveConfig()
    templates = config.templates

    def select_reason(state: RunState, runtime: Runtime[RunContext]) -> StopReason | None:
        return state.get("stop_reason") or stop_reason(config, state, context_of(runtime.context))

    def after(phase: str) -> Any:
        def route(state: RunState, runtime: Runtime[RunContext]) -> str:
            return route_after(config, phase, state, context_of(runtime.context))

        route.__name__ = f"after_{phase}"
        return route

    def after_plan(state: RunState, runtime: Runtime[RunContext]) -> Any:
        stop = stop_reason(config, state, context_of(runtime.context))
        if stop is not None:  # a probe verified, the probes all agree, or no budget left
            return end_route(stop, context_of(runtime.context), state)
        sends = fan_out_attempts(templates, branch="attempts")(state, runtime)
        return sends or "select"  # nothing affordable to send: choose from the probes

    frame = Skeleton(
        "adaptive", first="estimate_difficulty", resume_at="plan", select="best_score",
        reason=select_reason,
    )  # fmt: skip
    frame.node("estimate_difficulty", difficulty_node("probe", probe_samples=config.probe_samples))
    frame.node("check_probes", verify_node(optional=True, name="check_probes"))
    frame.node("plan", plan_node(config.policy))
    attempts = attempt_branch_node(
        {prompt.name: prompt for prompt in templates}, temperature=config.temperature,
        max_tokens=config.max_tokens, name="attempts",
    )  # fmt: skip
    frame.node("attempts", attempts, input_schema=AttemptTask)
    frame.node("check", verify_node(optional=True))
    frame.node("refine", build_refine(RefineConfig(max_rounds=2)))
    frame.node("approve_refine", approve_node("refine"), destinations=("refine", "select"))
    frame.node("approve_search", approve_node("search"), destinations=("search", "select"))
    frame.node("search", build_beam_search(BeamSearchConfig()))
    frame.edge("estimate_difficulty", "check_probes").edge("check_probes", "plan")
    graph = frame.graph
    graph.add_conditional_edges("plan", after_plan, ["attempts", "select", "pause"])
    frame.edge("attempts", "check")
    ends = ["select", "pause"]
    graph.add_conditional_edges(
        "check", after("attempts"), ["refine", "search", "approve_refine", "approve_search", *ends]
    )
    graph.add_conditional_edges("refine", after("refine"), ["search", "approve_search", *ends])
    return frame.edge("search", "select").compile(checkpointer)


def _needs_persistence(config: AdaptiveConfig) -> str | None:
    return "confirm_before pauses the run for approval" if config.confirm_before else None


SPEC = StrategySpec(
    name="adaptive",
    summary="estimate difficulty, grant a budget, escalate through attempts, refine, search",
    config_type=AdaptiveConfig,
    build=build_adaptive,
    candidate_limit="probe_samples",
    needs_persistence=_needs_persistence,
)
"""The adaptive strategy, for the registry."""
