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
   ``refine`` from ``refine_from`` tokens, ``search`` from ``search_from`` tokens.
3. Easy problems stop at the probes when they all agree. Otherwise ``attempts`` runs several
   prompting strategies in parallel (program-aided among them), ``check`` verifies them, and
   each later phase runs only while nothing has verified, the evidence still disagrees
   (several answers, or rejected candidates), and its turn is in the plan and affordable.
4. ``select`` takes the best-scored answer when a verifier scored candidates, else the
   majority over every candidate (probes included).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, TypedDict, cast

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime
from langgraph.types import Command, interrupt

from ponder.budget import Budget
from ponder.context import RunContext, usage_of
from ponder.errors import ConfigurationError
from ponder.graphs._config import check_positive_int, resolve_prompt
from ponder.graphs._routing import end_route, refusing_limit
from ponder.graphs.refine import RefineConfig, build_refine
from ponder.graphs.tree_search import BeamSearchConfig, build_beam_search
from ponder.nodes import prepare, select_node, tally, verify_node
from ponder.nodes.attempt import AttemptTask, attempt_branch_node, fan_out_attempts
from ponder.nodes.difficulty import difficulty_node
from ponder.nodes.pause import pause
from ponder.prompts import PromptTemplate
from ponder.state import Plan, RunInput, RunOutput, RunState, StopReason


class ApprovalRequest(TypedDict):
    """What a run waiting for approval asks (the interrupt's value)."""

    reason: str
    """``approval``."""
    phase: str
    """The phase about to start."""
    allotment: int
    """The tokens the plan grants the problem."""


__all__ = (
    "AdaptiveConfig",
    "AdaptiveRoute",
    "AfterAttemptsRoute",
    "AfterRefineRoute",
    "ApprovalRequest",
    "approve_node",
    "build_adaptive",
    "make_plan",
)

AdaptiveRoute = Literal[
    "attempts", "refine", "search", "select", "pause", "approve_refine", "approve_search"
]
"""The phase the adaptive strategy enters next."""

AfterAttemptsRoute = Literal[
    "refine", "search", "select", "pause", "approve_refine", "approve_search"
]
"""Where the adaptive strategy goes after its attempts (a later phase, or the end)."""

AfterRefineRoute = Literal["search", "select", "pause", "approve_search"]
"""Where the adaptive strategy goes after critique-and-refine (search, or the end).

Each router declares its own routes, so the drawn graph has exactly the possible edges."""


@dataclass(frozen=True, kw_only=True, slots=True)
class AdaptiveConfig:
    """Options of the adaptive strategy."""

    tokens_per_difficulty: int = 6000
    """Tokens granted per unit of difficulty (difficulty is in [0, 1])."""
    min_allotment: int = 1500
    """Tokens granted however easy the problem looks."""
    refine_from: int = 2000
    """Allotment from which critique-and-refine is in the plan."""
    search_from: int = 3000
    """Allotment from which tree search is in the plan."""
    probe_samples: int = 3
    """Probe samples drawn to estimate difficulty."""
    prompts: tuple[PromptTemplate, ...] = ()
    """The prompting strategies of the attempts phase (names or templates); by default
    few-shot, step-by-step and program-aided."""
    temperature: float = 0.7
    """Sampling temperature of attempts."""
    max_tokens: int = 256
    """Output cap of one attempt, in tokens."""
    confirm_before: tuple[str, ...] = ()
    """Phases (``refine``, ``search``) to ask approval for before spending on them: the run
    pauses with LangGraph's ``interrupt`` and goes on when resumed with an answer
    (``ponder.runs.aresume(run_id, approve=True)``). Needs a persisted run."""

    def __post_init__(self) -> None:
        owner = type(self).__name__
        for name in (
            "tokens_per_difficulty", "min_allotment", "refine_from", "search_from",
            "probe_samples", "max_tokens",
        ):  # fmt: skip
            check_positive_int(owner, name, getattr(self, name))
        prompts: Any = self.prompts or ("few_shot", "step_by_step", "program")
        if isinstance(prompts, (str, PromptTemplate)):
            prompts = (prompts,)  # one prompt given on its own
        object.__setattr__(self, "prompts", tuple(resolve_prompt(owner, p) for p in prompts))
        confirm: Any = self.confirm_before
        if isinstance(confirm, str):
            confirm = (confirm,)
        if not set(confirm) <= {"refine", "search"}:
            raise ConfigurationError(
                f"{owner}.confirm_before names phases refine and search only, got {confirm}"
            )
        object.__setattr__(self, "confirm_before", tuple(confirm))
        names = [p.name for p in self.prompts]
        if len(set(names)) != len(names):
            raise ConfigurationError(f"{owner}.prompts must have distinct names, got {names}")

    @property
    def recursion_limit(self) -> int:
        """LangGraph super-steps the strategy can need (its nested strategies included)."""
        return 60


def make_plan(config: AdaptiveConfig, difficulty: float, budget: Budget, spent: int) -> Plan:
    """Return the spending plan for a problem of this difficulty (see the module docstring)."""
    wanted = max(config.min_allotment, round(difficulty * config.tokens_per_difficulty))
    left = None if budget.tokens is None else budget.tokens - spent
    allotment = wanted if left is None else max(0, min(wanted, left))
    phases = ["attempts"]
    if allotment >= config.refine_from:
        phases.append("refine")
    if allotment >= config.search_from:
        phases.append("search")
    return Plan(difficulty=difficulty, allotment=allotment, phases=phases)


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


_PHASES = ("attempts", "refine", "search")


def route_after(
    config: AdaptiveConfig, phase: str, state: RunState, context: RunContext
) -> AdaptiveRoute:
    """Return the next planned phase after ``phase``, or ``select`` when it should stop."""
    planned = (state.get("plan") or {"phases": []})["phases"]
    later = [p for p in _PHASES[_PHASES.index(phase) + 1 :] if p in planned]
    stop = stop_reason(config, state, context)
    if stop is not None:
        return end_route(stop, context)
    if not later:
        return "select"
    if later[0] in config.confirm_before:
        return f"approve_{later[0]}"  # type: ignore[return-value]
    return later[0]  # type: ignore[return-value]


def approve_node(phase: str) -> Any:
    """Return a node that asks approval before ``phase``; a ``False`` answer ends the run."""

    def approve(state: RunState) -> Command[str]:
        plan = state.get("plan") or {"allotment": 0}
        answer = interrupt(
            ApprovalRequest(reason="approval", phase=phase, allotment=plan["allotment"])
        )
        return Command(goto=phase if answer is True else "select")

    approve.__name__ = f"approve_{phase}"
    return approve


def build_adaptive(
    config: AdaptiveConfig | None = None,
) -> CompiledStateGraph[RunState, RunContext, RunInput, RunOutput]:
    """Build the adaptive graph.

    Example:
        >>> graph = build_adaptive()
        >>> {"estimate_difficulty", "plan", "attempts", "refine", "search"} <= set(
        ...     graph.get_graph().nodes)
        True
    """
    config = config or AdaptiveConfig()
    prompts = {prompt.name: prompt for prompt in config.prompts}

    def plan(state: RunState, *, runtime: Runtime[RunContext]) -> dict[str, Any]:
        budget, usage = usage_of(state, runtime.context)
        made = make_plan(config, state.get("difficulty") or 0.0, budget, usage.tokens)
        phase = budget.to_limits()
        phase["tokens"] = usage.tokens + made["allotment"]
        return {"plan": made, "phase_limit": phase}

    def reason(state: RunState, runtime: Runtime[RunContext]) -> StopReason | None:
        return stop_reason(config, state, runtime.context)

    # route_after only returns phases later than the one named, so the casts are exact.
    def after_attempts(state: RunState, runtime: Runtime[RunContext]) -> AfterAttemptsRoute:
        return cast(AfterAttemptsRoute, route_after(config, "attempts", state, runtime.context))

    def after_refine(state: RunState, runtime: Runtime[RunContext]) -> AfterRefineRoute:
        return cast(AfterRefineRoute, route_after(config, "refine", state, runtime.context))

    def after_plan(state: RunState, runtime: Runtime[RunContext]) -> Any:
        stop = stop_reason(config, state, runtime.context)
        if stop is not None:  # a probe verified, the probes all agree, or no budget left
            return end_route(stop, runtime.context)
        sends = fan_out_attempts(config.prompts, branch="attempts")(state, runtime)
        return sends or "select"  # nothing affordable to send: choose from the probes

    def select_reason(state: RunState, runtime: Runtime[RunContext]) -> StopReason | None:
        return reason(state, runtime) or "exhausted"

    graph = StateGraph(
        RunState, context_schema=RunContext, input_schema=RunInput, output_schema=RunOutput
    )
    graph.add_node("prepare", prepare)
    graph.add_node(
        "estimate_difficulty", difficulty_node("probe", probe_samples=config.probe_samples)
    )
    graph.add_node("plan", plan)
    graph.add_node(
        "attempts",
        attempt_branch_node(
            prompts,
            temperature=config.temperature,
            max_tokens=config.max_tokens,
            name="attempts",
        ),  # fmt: skip
        input_schema=AttemptTask,
    )
    graph.add_node("check", verify_node(optional=True))
    graph.add_node("refine", build_refine(RefineConfig(max_rounds=2)))
    graph.add_node("approve_refine", approve_node("refine"), destinations=("refine", "select"))
    graph.add_node("approve_search", approve_node("search"), destinations=("search", "select"))
    graph.add_node("search", build_beam_search(BeamSearchConfig()))
    graph.add_node("select", select_node("best_score", select_reason))
    graph.add_edge(START, "prepare")
    graph.add_node("check_probes", verify_node(optional=True, name="check_probes"))
    graph.add_edge("prepare", "estimate_difficulty")
    graph.add_edge("estimate_difficulty", "check_probes")
    graph.add_edge("check_probes", "plan")
    graph.add_conditional_edges("plan", after_plan, ["attempts", "select", "pause"])
    graph.add_node("pause", pause)
    graph.add_edge("pause", "plan")
    graph.add_edge("attempts", "check")
    graph.add_conditional_edges("check", after_attempts)
    graph.add_conditional_edges("refine", after_refine)
    graph.add_edge("search", "select")
    graph.add_edge("select", END)
    return graph.compile(name="adaptive")
