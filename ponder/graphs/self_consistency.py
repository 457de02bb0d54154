"""Self-consistency: sample several solutions and choose among their answers.

The graph::

    prepare -> attempt -> (route) -> attempt ... -> select -> END

With ``programs`` (4 by default), program-aided candidates are drawn once, as soon as the
samples (the first of which is greedy) name more than one answer::

    prepare -> attempt -> (route) -> programs -> attempt -> (route) -> attempt ... -> select

They do not count as samples: they are evidence for ``select="anchored"``
(`ponder.nodes.select.anchored`, the default), which keeps the greedy answer unless programs
and a sample agree on another, and for ``select="ranked"`` (the fitted answer ranker,
`ponder.nodes.rank`); the other rules count them as votes. While the samples name one answer
no program could move it, so none is paid for: when the first samples agree with the greedy
answer the vote stops with no program drawn; and when the greedy answer is not a number (yes
or no, a choice's letter) programs are no evidence, ``anchored`` is the greedy answer, and
the vote stops after the first step (``decided``), which is then the greedy answer alone.
Drawing samples first also keeps the greedy answer affordable under a tight budget.

When the first sample is greedy (``greedy_first``, and always for ``anchored`` and
``ranked``) it is drawn alone, in a step of its own: decoded in one batch with other
samples, its tokens could differ from what greedy decoding gives (`ponder.models.embedded`),
and the anchor must be greedy decoding's own answer.

The routing edge keeps sampling while the vote is open and another sample is affordable.
It stops when the vote is settled (``converged``: by default when the leader holds the
``agreement`` share; with ``stopping="posterior"`` when the posterior probability that the
leader stays ahead of the runner-up reaches ``posterior``, `leader_holds`), when the leader
can no longer be overtaken by the samples left (``decided``), at ``max_samples``
(``exhausted``), or when the budget cannot afford another call (``budget``).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any, Literal, get_args

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.runtime import Runtime

from ponder.context import RunContext, context_of
from ponder.errors import ConfigurationError
from ponder.graphs.config import SamplingConfig, option
from ponder.graphs.skeleton import (
    Skeleton,
    StrategyGraph,
    StrategySpec,
    end_route,
    refusing_limit,
    stop_rule,
)
from ponder.nodes import ConfidenceVote, attempt_node, tally
from ponder.nodes.select import programs_can_move
from ponder.nodes.vote import ConfidenceMeasure
from ponder.prompts import PROGRAM
from ponder.state import RunState, StopReason
from ponder.verify.extract import canonical_number

__all__ = (
    "SPEC",
    "SelfConsistencyConfig",
    "Stopping",
    "VoteMethod",
    "build_self_consistency",
    "leader_holds",
    "samples_before_stop",
)

VoteMethod = Literal["majority", "confidence", "filtered", "borda", "anchored", "ranked"]
"""How self-consistency chooses its answer (see `ponder.nodes.SelectMethod`)."""

Stopping = Literal["agreement", "posterior"]
"""When the vote counts as settled: the leader holds the ``agreement`` share of the samples,
or the ``posterior`` probability that it stays ahead of the runner-up is high enough."""


def leader_holds(leader: int, runner_up: int) -> float:
    """Return the posterior probability that the leading answer is more likely than the next.

    With a uniform prior on the two answers' shares, after ``leader`` and ``runner_up``
    votes the leader's share of the two is Beta(leader + 1, runner_up + 1); this is the
    probability that it exceeds one half (as Adaptive-Consistency stops sampling).

    Example:
        >>> round(leader_holds(3, 0), 4), round(leader_holds(2, 1), 4)
        (0.9375, 0.6875)
    """
    a, b = leader + 1, runner_up + 1
    n = a + b - 1  # P(Beta(a, b) > 1/2) = P(Binomial(a + b - 1, 1/2) <= a - 1)
    return float(sum(math.comb(n, j) for j in range(a)) / 2**n)


@dataclass(frozen=True, kw_only=True, slots=True)
class SelfConsistencyConfig(SamplingConfig):
    """Options of the self-consistency strategy (and those of `SamplingConfig`)."""

    max_samples: int = option(8, "positive")
    """Most samples to draw."""
    min_samples: int = option(3, "positive")
    """Samples to draw before the agreement threshold may stop the vote."""
    agreement: float = option(0.75, "fraction")
    """Stop once the leading answer holds this share of the samples drawn."""
    select: VoteMethod = "anchored"
    """How the answer is chosen from the samples: by default ``anchored``, the greedy answer
    unless ``programs`` corroborate another one a sample gave (the first sample is then
    drawn greedy; measured never below greedy decoding on the held-in sets,
    ``benchmarks/default_strategy.py``); ``majority``, the textbook vote; or a vote that
    reads the model's confidence in each sample (``confidence``, ``filtered``, ``borda``; see
    `ponder.nodes.vote`), which is a plain majority for a model that reports none; or
    ``ranked``, the answer the fitted answer ranker scores highest from its votes, the
    greedy answer, the programs and the confidence (`ponder.nodes.rank`; the first sample
    is then drawn greedy; above ``anchored`` on the held-in word problems, below it on
    arithmetic: ``benchmarks/ranker.py``)."""
    confidence_measure: ConfidenceMeasure = "mean_logprob"
    """The confidence figure a confidence vote reads."""
    confidence_keep: float = option(0.5, "fraction")
    """``filtered``: the share of the most confident samples that vote."""
    confidence_temperature: float = 0.3
    """``confidence``: the softmax temperature of the weights."""
    stopping: Stopping = "agreement"
    """When the vote is settled (see `Stopping`)."""
    posterior: float = option(0.95, "fraction")
    """``stopping="posterior"``: the probability that the leader stays ahead at which
    sampling stops."""
    programs: int = option(4, "count")
    """Program-aided candidates to draw (the first greedy) once the samples name more than
    one answer, as evidence for ``select="anchored"`` and ``"ranked"`` (the other rules
    count them as votes). ``0`` draws none (and makes ``anchored`` the greedy answer);
    programs run in ponder's sandbox (`ponder.verify.sandbox`)."""
    corroboration: int = option(1, "positive")
    """``anchored``: the programs that must print another answer before it replaces the
    greedy one (1 was fitted on held-in problems: ``benchmarks/agreement.py``)."""

    def __post_init__(self) -> None:
        SamplingConfig.__post_init__(self)
        owner = type(self).__name__
        if self.select not in get_args(VoteMethod):
            raise ConfigurationError(
                f"{owner}.select must be one of {', '.join(get_args(VoteMethod))}, "
                f"got {self.select!r}"
            )
        if self.stopping not in get_args(Stopping):
            raise ConfigurationError(
                f"{owner}.stopping must be one of {', '.join(get_args(Stopping))}, "
                f"got {self.stopping!r}"
            )
        if self.confidence_measure not in get_args(ConfidenceMeasure):
            raise ConfigurationError(
                f"{owner}.confidence_measure must be one of "
                f"{', '.join(get_args(ConfidenceMeasure))}, got {self.confidence_measure!r}"
            )
        temperature = self.confidence_temperature
        if (
            isinstance(temperature, bool)
            or not isinstance(temperature, (int, float))
            or not (0 < temperature < float("inf"))
        ):
            raise ConfigurationError(
                f"{owner}.confidence_temperature must be a positive number, got {temperature!r}"
            )

    @property
    def recursion_limit(self) -> int:
        """LangGraph super-steps the strategy can need (so the budget, not LangGraph, ends it)."""
        return self.max_samples + 8


def _standing(state: RunState) -> tuple[int, int, int]:
    """Samples drawn, and the votes of the leading and the second answer (programs aside)."""
    candidates = [c for c in state.get("candidates", []) if c["kind"] != "program"]
    counts = sorted(tally(candidates).values(), reverse=True)
    return len(candidates), (counts[0] if counts else 0), (counts[1] if len(counts) > 1 else 0)


def _vote_ends(
    config: SelfConsistencyConfig, drawn: int, leader: int, runner_up: int
) -> StopReason | None:
    """Whether the vote ends with this standing: ``converged``, ``decided`` or ``None``."""
    if drawn >= config.min_samples:
        if config.stopping == "posterior":
            if leader_holds(leader, runner_up) >= config.posterior:
                return "converged"
        elif leader / drawn >= config.agreement:
            return "converged"
    if leader > 0 and leader - runner_up > config.max_samples - drawn:
        return "decided"
    return None


def samples_before_stop(config: SelfConsistencyConfig, state: RunState) -> int:
    """Return the fewest more samples after which the vote could stop (at least 1).

    Even if every one of them agreed with the leader, the vote cannot stop sooner, so
    drawing them together (one batched decode on the embedded model) spends exactly what
    drawing them one by one would.

    Example:
        >>> samples_before_stop(SelfConsistencyConfig(min_samples=3), {"candidates": []})
        3
    """
    drawn, leader, runner_up = _standing(state)
    left = config.max_samples - drawn
    for more in range(1, left + 1):
        if _vote_ends(config, drawn + more, leader + more, runner_up) is not None:
            return more
    return max(1, left)


def _wave(config: SelfConsistencyConfig, greedy_first: bool, state: RunState) -> int:
    """The samples of the next step: the greedy one alone first, then `samples_before_stop`.

    Decoded in a batch with other samples, a greedy sample's tokens can differ from greedy
    decoding's (llama.cpp's sums depend on the batch: `ponder.models.embedded`), and the
    rules that weigh the greedy answer need it to be greedy decoding's own answer.
    """
    if greedy_first and not any(c["kind"] != "program" for c in state.get("candidates", [])):
        return 1
    return samples_before_stop(config, state)


def _vote_stop(config: SelfConsistencyConfig, state: RunState) -> StopReason | None:
    if config.select == "anchored" and _anchor_fixed(config, state):
        return "decided"
    drawn, leader, runner_up = _standing(state)
    ended = _vote_ends(config, drawn, leader, runner_up)
    if ended is None and drawn >= config.max_samples:
        return "exhausted"
    return ended


def build_self_consistency(
    config: SelfConsistencyConfig | None = None,
    *,
    checkpointer: BaseCheckpointSaver[Any] | None = None,
    name: str = "self-consistency",
) -> StrategyGraph:
    """Build the self-consistency graph (under ``name``: `ponder.graphs.greedy` builds it too).

    Example:
        >>> graph = build_self_consistency(SelfConsistencyConfig(max_samples=5))
        >>> sorted(graph.get_graph().nodes)
        ['__end__', '__start__', 'attempt', 'pause', 'prepare', 'programs', 'select']
    """
    config = config or SelfConsistencyConfig()
    reason = stop_rule(
        tokens_needed=config.max_tokens, own=functools.partial(_vote_stop, config), verifies=False
    )
    greedy_first = config.greedy_first or config.select in _READS_GREEDY
    attempt = config.attempt_node(
        per_step=functools.partial(_wave, config, greedy_first),
        max_candidates=config.max_samples + config.programs, greedy_first=greedy_first,
    )  # fmt: skip
    vote = ConfidenceVote(
        measure=config.confidence_measure, keep=config.confidence_keep,
        temperature=config.confidence_temperature, corroboration=config.corroboration,
    )  # fmt: skip
    frame = Skeleton(
        name, first="attempt", resume_at="attempt", select=config.select,
        reason=reason, vote=vote,
    )  # fmt: skip
    frame.node("attempt", attempt)
    if not config.programs:
        again = "attempt" if config.max_samples > 1 else None  # one sample: no second round
        return frame.loop("attempt", again).compile(checkpointer)
    programs = attempt_node(
        prompt=PROGRAM, temperature=config.temperature, max_tokens=config.max_tokens,
        per_step=functools.partial(_programs_left, config), name="programs",
        first_temperature=0.0,
    )  # fmt: skip

    def after_attempt(state: RunState, runtime: Runtime[RunContext]) -> str:
        stop, context = reason(state, runtime), context_of(runtime.context)
        ended = stop in _VOTE_ENDS and config.select in _READS_GREEDY  # they may still matter
        if (stop is None or ended) and _programs_matter(config, state, context):
            return "programs"
        return "attempt" if stop is None else end_route(stop, context, state)

    frame.graph.add_conditional_edges(
        "attempt", after_attempt, ["programs", "attempt", "select", "pause"]
    )
    return frame.node("programs", programs).loop("programs", "attempt").compile(checkpointer)


_VOTE_ENDS = ("converged", "decided", "exhausted")
"""The vote's own stops: the programs may still be drawn after them (`_programs_matter`)."""


_READS_GREEDY = ("anchored", "ranked")
"""The rules that weigh the greedy answer (the first sample is drawn greedy for them)."""


def _programs_matter(config: SelfConsistencyConfig, state: RunState, context: RunContext) -> bool:
    """Whether the programs are still to draw, could change the answer, and are affordable.

    Programs are evidence for ``anchored``, which moves to another answer only when a
    sample gave it: while the samples name one answer (or none), or the greedy answer is
    not a number, no program can change the answer
    (`ponder.nodes.select.programs_can_move`), so none is paid for (``ranked`` follows the
    same rule: it was fitted on runs drawn so). After the vote has ended they are drawn for
    the rules that weigh the greedy answer against them (`_READS_GREEDY`) only.
    """
    samples = [c for c in state.get("candidates", []) if c["kind"] != "program"]
    return (
        bool(_programs_left(config, state))
        and programs_can_move(samples)
        and refusing_limit(state, context, max_tokens=config.max_tokens) is None
    )


def _anchor_fixed(config: SelfConsistencyConfig, state: RunState) -> bool:
    """Whether no more sample could change ``anchored``'s answer.

    So once the greedy sample has an answer that the programs drawn for it cannot move:
    one that is not a number (`ponder.nodes.select.programs_can_move`). With
    ``programs=0`` sampling goes on as configured (the samples are then the run's record).
    """
    samples = [c for c in state.get("candidates", []) if c["kind"] != "program"]
    greedy = next((c for c in samples if c["temperature"] == 0.0), None)
    if greedy is None or greedy["answer"] is None:
        return False
    return bool(config.programs) and canonical_number(greedy["answer"]) is None


def _program_steps(state: RunState) -> bool:
    """Whether the programs node has called the model in this run (failed calls included)."""
    return any(entry["node"] == "programs" for entry in state.get("ledger", []))


def _programs_left(config: SelfConsistencyConfig, state: RunState) -> int:
    """Programs still to draw: none once the node has run (a refused one is not retried)."""
    candidates = state.get("candidates", [])
    if any(c["kind"] == "program" for c in candidates) or _program_steps(state):
        return 0
    return config.programs


SPEC = StrategySpec(
    name="self-consistency",
    summary="sample several solutions and take the majority answer; stops when decided",
    config_type=SelfConsistencyConfig,
    build=build_self_consistency,
    candidate_limit="max_samples",
    bench_options={"max_samples": 16, "agreement": 0.75},
)
"""The self-consistency strategy, for the registry."""
