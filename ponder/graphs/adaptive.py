"""The adaptive strategy: probe the problem, then spend what its difficulty bin calls for.

The graph::

    prepare -> estimate_difficulty -> check_probes -> plan -> (route)
    plan -> samples -> (route) -> programs -> check_samples -> (route)
    check_samples -> attempts (one Send branch per prompt) -> check -> (route)
    check -> refine (nested) -> (route) -> search (nested beam search) -> select -> END

1. ``estimate_difficulty`` draws ``probe_samples`` probes (the first greedy, the rest at
   ``temperature``); they vote, and their disagreement is the difficulty.
2. ``plan`` reads the problem's *bin* off the probes (`ponder.nodes.plan.bin_of`: how many
   agree with the greedy answer, and whether the model was confident in it) and looks up
   the bin's `ponder.nodes.plan.Action` in the allocation policy
   (`ponder.nodes.plan.AllocationPolicy`, by default the table ponder ships, fitted on
   held-in problems by ``ponder fit-policy``: compute-optimal allocation, as in Snell et
   al.): how many answers in all, how many program-aided checks, which selection rule.
3. ``samples`` draws the answers the action wants beyond the probes, in one step;
   ``programs`` draws its programs only when the answers disagree (they could change no
   answer otherwise).
4. When the action escalates (by default: when the run has a verifier, which the fitted
   actions do not use) and the evidence still disagrees, the phases the token grant affords
   follow, as `ponder.nodes.PlanPolicy` plans them: parallel attempts with several prompts,
   critique and refine, tree search; each only while nothing has verified and its turn is
   affordable.
5. ``select`` takes the best-scored answer when a verifier scored candidates, else the
   action's rule (``majority``, ``anchored`` on the greedy probe, or ``confidence``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

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
    attempt_node,
    difficulty_node,
    fan_out_attempts,
    plan_node,
    tally,
    verify_node,
)
from ponder.nodes.plan import AllocationPolicy
from ponder.nodes.select import SelectMethod, programs_can_move
from ponder.prompts import FEW_SHOT, PROGRAM, PromptName, PromptTemplate, resolve_prompt
from ponder.state import ActionData, RunState, StopReason

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
    allocation: AllocationPolicy | str | None = None
    """The allocation policy: an `AllocationPolicy`, the path of a policy file (as
    ``ponder fit-policy`` writes), or ``None`` for the one ponder ships
    (`ponder.nodes.plan.DEFAULT_POLICY`, fitted on SmolLM2's held-in tune problems)."""
    escalate: bool | None = None
    """Whether the token-granted phases (attempts, refine, search) follow the bin's action
    while the evidence disagrees: ``None`` when the action says so, the run has a verifier
    or ``confirm_before`` names a phase; ``True`` always; ``False`` never."""
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
        allocation = self.allocation
        if not isinstance(allocation, AllocationPolicy):
            if allocation is not None and not isinstance(allocation, (str, Path)):
                raise ConfigurationError(
                    f"{owner}.allocation must be an AllocationPolicy, a policy file's path "
                    f"or None, got {allocation!r}"
                )
            allocation = AllocationPolicy.load(allocation)
        object.__setattr__(self, "allocation", allocation)
        if self.escalate not in (None, True, False):
            raise ConfigurationError(f"{owner}.escalate must be None, True or False, "
                                     f"got {self.escalate!r}")  # fmt: skip
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
        return 64


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


def _escalates(config: AdaptiveConfig) -> bool | None:
    """``escalate``, where a phase to confirm counts as wanting the phases."""
    if config.escalate is None and config.confirm_before:
        return True
    return config.escalate


def _action(state: RunState) -> ActionData | None:
    """The plan's allocation action (``None`` for a plan made before ponder had one)."""
    plan = state.get("plan")
    return None if plan is None else plan.get("action")


def _thoughts(state: RunState) -> list[Any]:
    return [c for c in state.get("candidates", []) if c["kind"] in ("probe", "attempt")]


def _samples_left(state: RunState) -> int:
    """Chain-of-thought answers the action still wants (the probes count)."""
    action = _action(state)
    if action is None or any(entry["node"] == "samples" for entry in state.get("ledger", [])):
        return 0  # drawn once (every candidate's call is in the ledger); not retried
    return max(0, action["samples"] - len(_thoughts(state)))


def _programs_left(state: RunState) -> int:
    """Programs the action still wants: once, and only when they could move the answer.

    That is, when `ponder.nodes.select.programs_can_move`: the answers disagree and the
    greedy one is a number.
    """
    action = _action(state)
    if action is None or not action["programs"]:
        return 0
    if any(entry["node"] == "programs" for entry in state.get("ledger", [])):
        return 0
    return action["programs"] if programs_can_move(_thoughts(state)) else 0


def _rule(state: RunState) -> SelectMethod:
    """The select rule: the best score when a verifier scored, else the action's rule."""
    action = _action(state)
    if action is None or any(c["score"] is not None for c in state.get("candidates", [])):
        return "best_score"
    return cast(SelectMethod, action["select"])


def _spending_routes(config: AdaptiveConfig, templates: tuple[PromptTemplate, ...]) -> Any:
    """Return the adaptive strategy's spending routes: ``spend`` and ``escalate``.

    ``spend`` follows the plan, the samples and the programs (what the action still
    wants); ``escalate`` follows the samples' check (the phases, when planned).
    """

    def spend(state: RunState, runtime: Runtime[RunContext]) -> Any:
        """After the plan, the samples or the programs: what the action still wants."""
        context = context_of(runtime.context)
        stored = state.get("stop_reason")
        if stored in ("error", "budget"):
            return end_route(stored, context, state)
        if any(c["verdict"] == "accepted" for c in state.get("candidates", [])):
            return "select"
        wanted = (
            "samples" if _samples_left(state) else "programs" if _programs_left(state) else None
        )
        if wanted is not None:
            if refusing_limit(state, context, max_tokens=config.max_tokens) is not None:
                return end_route("budget", context, state)
            return wanted
        if _action(state) is None:  # a plan made before the policy: the phases, as then
            return escalate(state, runtime)
        plan = state.get("plan")
        return "check_samples" if plan is not None and plan["phases"] else "select"

    def escalate(state: RunState, runtime: Runtime[RunContext]) -> Any:
        """The phases, when planned and the evidence still disagrees."""
        context = context_of(runtime.context)
        planned = (state.get("plan") or {"phases": []})["phases"]
        if "attempts" not in planned or any(
            c["node"] == "attempts" for c in state.get("candidates", [])
        ):
            return route_after(config, "attempts", state, context)
        stop = stop_reason(config, state, context)
        if stop is not None:  # a candidate verified, they all agree, or no budget left
            return end_route(stop, context, state)
        sends = fan_out_attempts(templates, branch="attempts")(state, runtime)
        return sends or "select"  # nothing affordable to send: choose from what there is

    return spend, escalate


def build_adaptive(
    config: AdaptiveConfig | None = None, *, checkpointer: BaseCheckpointSaver[Any] | None = None
) -> StrategyGraph:
    """Build the adaptive graph.

    Example:
        >>> graph = build_adaptive()
        >>> {"estimate_difficulty", "plan", "samples", "programs", "refine"} <= set(
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

    spend, escalate = _spending_routes(config, templates)

    frame = Skeleton(
        "adaptive", first="estimate_difficulty", resume_at="plan", select=_rule,
        reason=select_reason,
    )  # fmt: skip
    probes = difficulty_node(
        "probe", probe_samples=config.probe_samples, probe_prompt=FEW_SHOT,
        probe_temperature=config.temperature, probe_max_tokens=config.max_tokens,
        probe_first_temperature=0.0,
    )  # fmt: skip
    frame.node("estimate_difficulty", probes)
    frame.node("check_probes", verify_node(optional=True, name="check_probes"))
    frame.node(
        "plan",
        plan_node(
            config.policy, cast(AllocationPolicy, config.allocation), escalate=_escalates(config)
        ),
    )
    samples = attempt_node(
        prompt=FEW_SHOT, temperature=config.temperature, max_tokens=config.max_tokens,
        per_step=_samples_left, name="samples",
    )  # fmt: skip
    programs = attempt_node(
        prompt=PROGRAM, temperature=config.temperature, max_tokens=config.max_tokens,
        per_step=_programs_left, name="programs", first_temperature=0.0,
    )  # fmt: skip
    frame.node("samples", samples).node("programs", programs)
    frame.node("check_samples", verify_node(optional=True, name="check_samples"))
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
    ends = ["select", "pause"]
    phases = ["refine", "search", "approve_refine", "approve_search"]
    spent = ["samples", "programs", "check_samples", "attempts", *phases, *ends]
    for source in ("plan", "samples", "programs"):
        graph.add_conditional_edges(source, spend, spent)
    graph.add_conditional_edges("check_samples", escalate, ["attempts", *phases, *ends])
    frame.edge("attempts", "check")
    graph.add_conditional_edges("check", after("attempts"), [*phases, *ends])
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
