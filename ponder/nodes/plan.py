"""The plan node of the adaptive strategy: what a problem gets, and which phases.

An `AllocationPolicy` (a table fitted on held-in problems, stored as JSON: ponder ships one,
`DEFAULT_POLICY`, and ``ponder fit-policy`` fits one for any model) gives each difficulty bin
(`bin_of`: read off the probe candidates) an `Action`: how many answers, how many
program-aided checks, which selection rule, and whether to escalate.

An escalating problem also gets a `PlanPolicy` grant: ``min(difficulty x
tokens_per_difficulty, what remains)`` tokens (at least ``min_allotment``), and the phases
that allotment affords: ``attempts`` always, ``refine`` from ``refine_from`` tokens,
``search`` from ``search_from`` tokens. The node writes the plan and then sets the grant as
the ``phase_limit`` every nested strategy obeys.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langgraph.runtime import Runtime

from ponder.budget import Budget
from ponder.context import RunContext, context_of, usage_of
from ponder.errors import ConfigurationError
from ponder.state import ActionData, Plan, RunState

__all__ = (
    "ALLOCATION_SELECT",
    "DEFAULT_POLICY",
    "PHASES",
    "Action",
    "AllocationPolicy",
    "PlanPolicy",
    "bin_of",
    "plan_node",
)

PHASES = ("attempts", "refine", "search")
"""The adaptive strategy's phases, in the order they run."""


@dataclass(frozen=True, kw_only=True, slots=True)
class PlanPolicy:
    """How the plan grants tokens by difficulty (see the module docstring)."""

    tokens_per_difficulty: int
    """Tokens granted per unit of difficulty (difficulty is in [0, 1])."""
    min_allotment: int
    """Tokens granted however easy the problem looks."""
    refine_from: int
    """Allotment from which critique-and-refine is in the plan."""
    search_from: int
    """Allotment from which tree search is in the plan."""

    def plan(self, difficulty: float, budget: Budget, spent: int) -> Plan:
        """Return the plan for a problem of this difficulty, ``spent`` tokens into the run.

        Example:
            >>> policy = PlanPolicy(tokens_per_difficulty=6000, min_allotment=1500,
            ...                     refine_from=2000, search_from=3000)
            >>> policy.plan(0.5, Budget(tokens=10_000), 0)["phases"]
            ['attempts', 'refine', 'search']
        """
        wanted = max(self.min_allotment, round(difficulty * self.tokens_per_difficulty))
        left = None if budget.tokens is None else budget.tokens - spent
        allotment = wanted if left is None else max(0, min(wanted, left))
        phases = ["attempts"]
        if allotment >= self.refine_from:
            phases.append("refine")
        if allotment >= self.search_from:
            phases.append("search")
        return Plan(difficulty=difficulty, allotment=allotment, phases=phases)


def plan_node(
    policy: PlanPolicy,
    allocation: AllocationPolicy | None = None,
    *,
    escalate: bool | None = None,
) -> Any:
    """Return the node that makes the plan (and, when it escalates, sets the phase limit).

    Without ``allocation`` every problem escalates through the phases ``policy`` grants.
    With it, the probe candidates' bin (`bin_of`) picks the `Action`; the phases follow
    only when ``escalate`` says so (``None``: when the action escalates, or the run has a
    verifier, which the fitted actions do not use), and only then is the grant set as the
    phase limit.
    """

    def plan(state: RunState, *, runtime: Runtime[RunContext]) -> dict[str, Any]:
        context = context_of(runtime.context)
        budget, usage = usage_of(state, context)
        if state.get("plan") is not None:
            # Planning again, after a top-up: the phase limit in the state is this node's
            # own earlier grant, made for the old budget; plan within the new one.
            budget = Budget.from_limits(state["budget"])
        made = policy.plan(state.get("difficulty") or 0.0, budget, usage.tokens)
        if allocation is not None:
            probes = [c for c in state.get("candidates", []) if c["kind"] == "probe"]
            action = allocation.action_for(probes)
            made["bin"] = bin_of(probes, allocation.threshold)
            made["action"] = action.to_dict()
            escalates = escalate
            if escalates is None:
                escalates = action.escalate or context.verifier is not None
            if not escalates:
                made["phases"] = []
                return {"plan": made, "phase_limit": None}
        phase = budget.to_limits()
        phase["tokens"] = usage.tokens + made["allotment"]
        return {"plan": made, "phase_limit": phase}

    return plan


ALLOCATION_SELECT = ("majority", "anchored", "confidence", "ranked")
"""The selection rules an allocation `Action` can name (see `ponder.nodes.SelectMethod`)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Action:
    """What the adaptive strategy spends on a problem of one difficulty bin.

    Example:
        >>> Action(samples=5, programs=4, select="anchored").name
        'anchored@5+4p'
    """

    samples: int
    """Chain-of-thought answers in all, the probes included (``1``: the greedy answer)."""
    programs: int = 0
    """Program-aided answers drawn as evidence when the samples name several answers."""
    select: str = "majority"
    """How the answer is chosen: ``majority``, ``anchored``, ``confidence`` or ``ranked``."""
    escalate: bool = False
    """Whether, when the evidence still disagrees, the token-granted phases follow (parallel
    attempts, critique and refine, tree search; `PlanPolicy`)."""

    def __post_init__(self) -> None:
        if isinstance(self.samples, bool) or not isinstance(self.samples, int) or self.samples < 1:
            raise ConfigurationError(
                f"Action.samples must be a whole number >= 1, got {self.samples!r}"
            )
        if (
            isinstance(self.programs, bool)
            or not isinstance(self.programs, int)
            or self.programs < 0
        ):
            raise ConfigurationError(
                f"Action.programs must be a whole number >= 0, got {self.programs!r}"
            )
        if self.select not in ALLOCATION_SELECT:
            raise ConfigurationError(
                f"Action.select must be one of {', '.join(ALLOCATION_SELECT)}, got {self.select!r}"
            )

    @property
    def name(self) -> str:
        """A short label: the rule, the answers, the programs."""
        programs = f"+{self.programs}p" if self.programs else ""
        return f"{self.select}@{self.samples}{programs}{' +escalate' if self.escalate else ''}"

    def to_dict(self) -> ActionData:
        """The action as plain data (for the plan in the state, and the policy file)."""
        return ActionData(samples=self.samples, programs=self.programs, select=self.select,
                          escalate=self.escalate)  # fmt: skip

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Action:
        """Read an action from plain data (unknown keys are an error)."""
        unknown = set(data) - {"samples", "programs", "select", "escalate"}
        if unknown:
            raise ConfigurationError(f"an allocation action has unknown keys {sorted(unknown)}")
        return cls(**data)


def bin_of(probes: Sequence[Mapping[str, Any]], threshold: float | None) -> str:
    """Return the difficulty bin of a problem from its probe candidates.

    The bin is ``"<agree>/<n>"``: how many of the ``n`` chain-of-thought probes give the
    greedy answer (the probe drawn at temperature 0, else the first), or ``"none"`` when
    the greedy probe has no answer. With a ``threshold``, and when the greedy probe carries
    its mean token log-probability, ``-sure`` (at or above it) or ``-unsure`` is added.

    Example:
        >>> def p(answer, t=0.7, lp=None):
        ...     return {"kind": "probe", "answer": answer, "temperature": t,
        ...             "confidence": None if lp is None else {"mean_logprob": lp}}
        >>> bin_of([p("4", 0.0, -0.1), p("4"), p("5")], -0.3), bin_of([p(None, 0.0)], None)
        ('2/3-sure', 'none')
    """
    thoughts = [c for c in probes if c["kind"] != "program"]
    if not thoughts:
        return "none"
    greedy = next((c for c in thoughts if c["temperature"] == 0.0), thoughts[0])
    if greedy["answer"] is None:
        return "none"
    agree = sum(c["answer"] == greedy["answer"] for c in thoughts)
    name = f"{agree}/{len(thoughts)}"
    value = (greedy.get("confidence") or {}).get("mean_logprob")
    if threshold is None or not isinstance(value, (int, float)):
        return name
    return f"{name}-{'sure' if value >= threshold else 'unsure'}"


DEFAULT_POLICY = Path(__file__).parent.parent / "graphs" / "data" / "adaptive-policy.json"
"""The policy ponder ships (fitted by ``ponder fit-policy`` on SmolLM2's tune splits)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class AllocationPolicy:
    """The adaptive strategy's table: which `Action` each difficulty bin gets.

    A problem's bin is read from its probes (`bin_of`); a bin the table lacks falls back to
    the bin without the confidence suffix (a model that reports no confidence), then to
    ``"*"``, the action fitted for every problem alike. Stored as JSON (`load`, `dump`).
    """

    probes: int = 3
    """Probe answers drawn first (the first greedy)."""
    threshold: float | None = None
    """The greedy probe's mean token log-probability that splits ``sure`` from ``unsure``."""
    bins: Mapping[str, Action]
    """The action of each bin (``"*"``: every bin not listed)."""
    model: str = ""
    """The model the policy was fitted on."""
    penalty: float = 0.0
    """The price of a token, in problems, at which it was fitted."""
    fitted_on: Mapping[str, Any] = field(default_factory=dict)
    """What it was fitted on (datasets, split, problems), for the record."""

    def __hash__(self) -> int:
        return hash(json.dumps(self.to_dict(), sort_keys=True))

    def action_for(self, probes: Sequence[Mapping[str, Any]]) -> Action:
        """Return the action for the problem these probe candidates describe."""
        name = bin_of(probes, self.threshold)
        for key in (name, name.split("-")[0], "*"):
            if key in self.bins:
                return self.bins[key]
        return Action(samples=1, select="anchored")

    def to_dict(self) -> dict[str, Any]:
        """The policy as plain data (what `dump` writes)."""
        return {
            "probes": self.probes, "threshold": self.threshold, "model": self.model,
            "penalty": self.penalty, "fitted_on": dict(self.fitted_on),
            "bins": {name: dict(action.to_dict()) for name, action in sorted(self.bins.items())},
        }  # fmt: skip

    def dump(self, path: str | Path) -> None:
        """Write the policy to ``path`` as JSON."""
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path | None = None) -> AllocationPolicy:
        """Read a policy file (``None``: the one ponder ships, `DEFAULT_POLICY`).

        A missing, unreadable or malformed file is a `ConfigurationError` naming it.
        """
        where = Path(path) if path is not None else DEFAULT_POLICY
        try:
            data = json.loads(where.read_text(encoding="utf-8"))
            bins = {str(k): Action.from_dict(v) for k, v in dict(data.pop("bins")).items()}
            probes = data.get("probes", 3)
            if isinstance(probes, bool) or not isinstance(probes, int) or probes < 1:
                raise ConfigurationError(f"probes must be a whole number >= 1, got {probes!r}")
            return cls(
                probes=probes, threshold=data.get("threshold"), bins=bins,
                model=str(data.get("model", "")), penalty=float(data.get("penalty", 0.0)),
                fitted_on=dict(data.get("fitted_on", {})),
            )  # fmt: skip
        except (
            OSError,
            ValueError,
            KeyError,
            TypeError,
            AttributeError,
            ConfigurationError,
        ) as exc:
            raise ConfigurationError(f"cannot read the allocation policy {where}: {exc}") from exc
