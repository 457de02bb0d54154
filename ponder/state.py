"""The run state every strategy graph reads and writes.

State is plain data (str, int, float, bool, None, list, dict): it round-trips through
LangGraph's checkpoint serializer in strict mode with no pickle and no allow-listed classes,
and a resumed run sees exactly the types a live one does.

Candidates double as the reasoning tree: each has an ``id`` derived from the state (its index)
and a ``parent_id`` (``"root"`` for the problem itself), so the tree survives checkpointing.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Annotated, Literal, TypeVar

from typing_extensions import NotRequired, TypedDict

from ponder.budget import BudgetLimits
from ponder.errors import ErrorKind, PonderError, record_kind

__all__ = (
    "ROOT_ID",
    "ActionData",
    "Candidate",
    "Confidence",
    "FinishReason",
    "LedgerEntry",
    "NodeKind",
    "Plan",
    "RunError",
    "RunInput",
    "RunOutput",
    "RunState",
    "SearchStats",
    "Status",
    "StopReason",
    "VerdictLabel",
    "merge_by_id",
    "merge_stats",
    "new_id",
    "next_index",
    "run_error",
)

ROOT_ID = "root"
"""The ``parent_id`` of candidates that answer the problem directly."""

Status = Literal["running", "paused", "done", "failed"]
"""Where a run stands.

- ``running``: steps remain.
- ``paused``: a persisted run ran out of budget; resume it with a top-up.
- ``done``: the strategy finished (with or without an answer).
- ``failed``: the model or a verifier failed; the candidates gathered so far are kept.
"""

StopReason = Literal["verified", "converged", "decided", "exhausted", "budget", "approval", "error"]
"""Why a strategy stopped drawing candidates.

- ``verified``: a candidate passed the verifier.
- ``converged``: the vote reached its agreement threshold.
- ``decided``: the vote leader can no longer be overtaken by the samples left.
- ``exhausted``: the strategy drew as many candidates as it is allowed.
- ``budget``: the budget cannot afford another call.
- ``approval``: a persisted run waits for approval before an expensive phase.
- ``error``: the model failed.
"""

NodeKind = Literal["attempt", "probe", "program", "refine", "step"]
"""What made a node of the reasoning tree.

- ``attempt``: a full solution sampled from a prompt.
- ``probe``: a cheap sample drawn to estimate difficulty (it also votes).
- ``program``: a program written by the model; its answer is what the program printed.
- ``refine``: a solution rewritten to address a critique of its parent.
- ``step``: one reasoning step of a tree search; the path from the root is the solution.
"""

FinishReason = Literal["stop", "length", "timeout", "error", "low_confidence"]
"""How a model call ended: naturally, at ``max_tokens``, at its deadline, with an error, or
stopped by the model because its confidence fell below the call's floor (``low_confidence``:
see `ponder.nodes.attempt.confidence_floor`)."""

VerdictLabel = Literal["accepted", "rejected", "unverified"]
"""A verifier's judgment of a candidate.

- ``accepted``: the score reached the acceptance threshold.
- ``rejected``: the verifier judged it and it fell short.
- ``unverified``: no usable judgment (no answer to check, or the verifier failed; see the
  candidate's ``reason``).
"""


class Confidence(TypedDict):
    """A sample's confidence, from the model's token probabilities (`ponder.models.confidence`)."""

    tokens: int
    """Tokens the figures are over."""
    mean_logprob: float
    """Mean log-probability of the sampled tokens."""
    mean_confidence: float
    """Mean token confidence (minus the mean top-k log-probability of each step)."""
    tail_confidence: float
    """Mean token confidence of the last ``TAIL`` tokens."""
    lowest_group: float
    """Lowest mean token confidence over ``WINDOW`` consecutive tokens."""
    self_certainty: float | None
    """Mean KL(uniform || model) per token, or ``None`` without the whole distribution."""


class Candidate(TypedDict):
    """One model attempt: a node of the reasoning tree."""

    id: str
    """Stable id, derived from the state (``"c0"``, ``"c1"``, ...)."""
    parent_id: str
    """The node this one continues; `ROOT_ID` for a direct answer to the problem."""
    kind: NodeKind
    """What made it."""
    node: str
    """The graph node that made it."""
    prompt: str
    """The name of the prompt template that produced it."""
    text: str
    """The model's full output."""
    answer: str | None
    """The answer extracted from ``text``, or ``None`` when none could be found."""
    score: float | None
    """The verifier's score in [0, 1], or ``None`` when not verified."""
    verdict: VerdictLabel | None
    """The verifier's judgment, or ``None`` when no verifier ran."""
    reason: str | None
    """The verifier's explanation, or why the candidate is unverified."""
    critique: str | None
    """A critique of this candidate, once one was made (its refinement is a child node)."""
    temperature: float
    """Sampling temperature of the call."""
    seed: int | None
    """Sampling seed of the call."""
    tokens_in: int
    """Prompt tokens of the call."""
    tokens_out: int
    """Generated tokens of the call."""
    latency_s: float
    """Seconds the call took."""
    finish_reason: FinishReason
    """How the call ended."""
    confidence: NotRequired[Confidence | None]
    """The model's own confidence in the sample (from its token probabilities), or ``None``
    when the model reports none; absent in runs stored before ponder recorded it."""


class _Identified(TypedDict):
    id: str


_T = TypeVar("_T", bound=_Identified)


def merge_by_id(left: list[_T], right: list[_T]) -> list[_T]:
    """Reduce list updates by ``id``: an item whose id exists replaces it, others append.

    This makes updates idempotent, so a nested strategy (a subgraph) can hand back the whole
    list it was given plus its own items without duplicating anything in the parent.

    Example:
        >>> old = [{"id": "c0", "score": None}]
        >>> merge_by_id(old, [{"id": "c0", "score": 1.0}, {"id": "c1", "score": None}])
        [{'id': 'c0', 'score': 1.0}, {'id': 'c1', 'score': None}]
    """
    if not right:
        return left
    merged = list(left)
    position = {item["id"]: i for i, item in enumerate(merged)}
    for item in right:
        index = position.get(item["id"])
        if index is None:
            position[item["id"]] = len(merged)
            merged.append(item)
        elif merged[index] != item:
            merged[index] = item
    return merged


def next_index(candidates: Sequence[Candidate]) -> int:
    """Return the index of the next candidate: one past the largest ``c<n>`` id in use.

    Not ``len(candidates)``: a parallel branch that drew nothing leaves a gap, and reusing an
    index would replace a candidate instead of adding one.
    """
    used = [int(c["id"][1:]) for c in candidates if c["id"][:1] == "c" and c["id"][1:].isdigit()]
    return max(used, default=-1) + 1


def new_id() -> str:
    """Return a fresh id for a ledger entry or an error record."""
    return uuid.uuid4().hex[:16]


class LedgerEntry(TypedDict):
    """What one model call cost. Every call is recorded, failed ones included."""

    id: str
    """Unique id of the entry."""
    node: str
    """The graph node that made the call."""
    candidate_id: str | None
    """The candidate the call produced, if any."""
    tokens_in: int
    """Prompt tokens, as the model reported them."""
    tokens_out: int
    """Generated tokens, as the model reported them."""
    cost: float
    """Money, per the budget's pricing."""
    latency_s: float
    """Seconds the call took."""
    usage_reported: bool
    """False when the model reported no usage and the counts are ponder's upper bounds."""
    ok: bool
    """False when the call failed."""
    tokens_cached: NotRequired[int]
    """Of ``tokens_in``, the prompt tokens the model read from its cache instead of
    processing them again (the embedded model's shared prefixes; a server's reported
    ``cache_read``); 0 when the model does not say. Absent in runs stored before ponder
    recorded it."""
    flops: NotRequired[float | None]
    """Estimated floating-point operations of the call: 2 x parameters x tokens processed
    (``tokens_in - tokens_cached + tokens_out``; a failed call, what it was charged).
    ``None`` where the model's parameter count is unknown; absent in runs stored before
    ponder estimated it."""


class RunError(TypedDict):
    """A failure recorded during a run, instead of losing the run to an exception."""

    id: str
    """Unique id of the record."""
    node: str
    """Where it happened."""
    kind: ErrorKind
    """The error class it stands for (``"ModelError"``, ``"ModelTimeout"``, ...)."""
    message: str
    """What went wrong."""


def run_error(error: BaseException, node: str) -> RunError:
    """Record ``error``, raised or met at ``node``, as plain data for the state.

    One of ponder's errors keeps its own kind and message; any other exception is recorded
    as a ``NodeError`` whose message starts with its type.

    Example:
        >>> run_error(KeyError("x"), "attempt")["kind"]
        'NodeError'
    """
    message = str(error) if isinstance(error, PonderError) else f"{type(error).__name__}: {error}"
    return RunError(id=new_id(), node=node, kind=record_kind(error), message=message[:500])


class _RequiredInput(TypedDict):
    problem: str
    """The problem to solve, as given by the user."""
    budget: BudgetLimits
    """The run's limits."""


class RunInput(_RequiredInput, total=False):
    """The keys a strategy graph reads as input: ``problem`` and ``budget`` are required.

    The optional keys let a strategy continue work done before it: nested in another strategy
    (or placed after one in a user's graph) it sees the candidates already drawn and the
    ledger already spent, and charges the same budget.
    """

    candidates: Annotated[list[Candidate], merge_by_id]
    """Candidates drawn before this strategy started."""
    ledger: Annotated[list[LedgerEntry], merge_by_id]
    """Model calls made before this strategy started."""
    errors: Annotated[list[RunError], merge_by_id]
    """Failures recorded before this strategy started."""
    phase_limit: BudgetLimits | None
    """A tighter limit for the current phase (totals, in the budget's units), set by an
    enclosing strategy that shares its budget out; ``None`` for none."""
    seconds_before: float
    """Wall seconds spent by earlier sessions of this run (for resumed runs)."""
    started_at: float
    """When this session of the run started (`time.time` seconds): stamped by ``prepare``
    (a nested strategy keeps its parent's), renewed when a paused run resumes; the
    wall-time budget counts from it (`ponder.context.session_seconds`)."""


class RunOutput(TypedDict):
    """The keys a strategy graph returns."""

    answer: str | None
    """The selected answer, or ``None`` when no candidate had one."""
    candidates: Annotated[list[Candidate], merge_by_id]
    """Every candidate, in the order drawn (nodes add new ones and update judged ones)."""
    votes: dict[str, float]
    """Answer -> votes (candidate count, or summed weights for a weighted vote)."""
    ledger: Annotated[list[LedgerEntry], merge_by_id]
    """Every model call and its cost."""
    status: Status
    """Where the run stands."""
    stop_reason: StopReason | None
    """Why the strategy stopped drawing candidates."""
    errors: Annotated[list[RunError], merge_by_id]
    """Failures recorded along the way."""
    budget: BudgetLimits
    """The run's limits, as the run ends (a top-up given while it was paused included), so
    an enclosing strategy goes on with the limits its nested phase was given."""


class SearchStats(TypedDict):
    """Monte Carlo tree search statistics of one tree node."""

    visits: int
    """Times a simulation passed through the node."""
    value: float
    """Sum of the values backed up through the node."""


def merge_stats(
    left: dict[str, SearchStats], right: dict[str, SearchStats]
) -> dict[str, SearchStats]:
    """Reduce search statistics: the update's entries replace the old ones, key by key."""
    return {**left, **right}


class ActionData(TypedDict):
    """An allocation action as plain data (`ponder.nodes.plan.Action`)."""

    samples: int
    """Chain-of-thought answers in all, the probes included."""
    programs: int
    """Program-aided answers drawn as evidence when the samples disagree."""
    select: str
    """How the answer is chosen (``majority``, ``anchored``, ``confidence``)."""
    escalate: bool
    """Whether the token-granted phases follow when the evidence still disagrees."""


class Plan(TypedDict):
    """How the adaptive strategy decided to spend."""

    difficulty: float
    """The estimated difficulty, in [0, 1]."""
    allotment: int
    """Tokens granted to the problem: min(difficulty x tokens_per_difficulty, what remains)."""
    phases: list[str]
    """The phases the allotment affords, in order (``attempts``, ``refine``, ``search``);
    empty unless the bin's action escalates."""
    bin: NotRequired[str]
    """The difficulty bin the probes put the problem in (`ponder.nodes.plan.bin_of`)."""
    action: NotRequired[ActionData]
    """What the allocation policy spends on that bin; absent in runs planned before ponder
    fitted its policy (they escalate through the phases as planned then)."""


class RunState(RunInput, total=False):
    """The full state of a strategy run: its input, its output and the work in between."""

    answer: str | None
    """The selected answer, or ``None`` when no candidate had one."""
    votes: dict[str, float]
    """Answer -> votes (candidate count, or summed weights for a weighted vote)."""
    status: Status
    """Where the run stands."""
    stop_reason: StopReason | None
    """Why the strategy stopped drawing candidates."""
    difficulty: float | None
    """Estimated difficulty in [0, 1], once a difficulty node has run."""
    plan: Plan | None
    """The adaptive strategy's spending plan, once made."""
    frontier: list[str]
    """Tree search: the ids of the nodes to expand next (``root`` for the problem)."""
    stats: Annotated[dict[str, SearchStats], merge_stats]
    """Tree search: visit counts and values, by node id (Monte Carlo tree search)."""
