"""The select node: choose the final answer, by vote or by score."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from langgraph.runtime import Runtime

from ponder.context import RunContext
from ponder.nodes._types import Node
from ponder.nodes.anchor import anchor_of, anchored, programs_can_move
from ponder.nodes.rank import AnswerRanker, default_ranker
from ponder.nodes.vote import (
    ConfidenceMeasure,
    borda_by_confidence,
    filtered_by_confidence,
    weighted_by_confidence,
)
from ponder.state import Candidate, RunState, StopReason

__all__ = (
    "ConfidenceVote",
    "SelectMethod",
    "anchor_of",
    "best_scored",
    "choose",
    "majority",
    "programs_can_move",
    "provisional_answer",
    "select_node",
    "tally",
    "weighted_tally",
)

SelectMethod = Literal[
    "majority",
    "weighted",
    "best_score",
    "latest",
    "confidence",
    "filtered",
    "borda",
    "anchored",
    "ranked",
]
"""How the final answer is chosen.

- ``majority``: the answer most candidates gave (ties: the one given first).
- ``confidence``: a vote weighted by the model's confidence in each candidate
  (`ponder.nodes.vote.weighted_by_confidence`); ``filtered``: a majority of the most
  confident share (`ponder.nodes.vote.filtered_by_confidence`); ``borda``: Borda points by
  confidence rank. Each is a plain majority when the candidates carry no confidence.
- ``weighted``: the answer with the largest sum of verifier scores (by majority when no
  candidate was scored).
- ``best_score``: the answer of the highest-scored candidate (ties: the one drawn first);
  by majority when no candidate was scored.
- ``latest``: the best-scored candidate's answer when any was scored, else the newest
  answer (the most refined solution of a critique-and-refine chain).
- ``anchored``: the greedy answer, unless program-aided candidates corroborate another
  answer that a chain-of-thought sample also gave (`anchored`): a vote that moves away from
  greedy decoding only on the agreement of two kinds of reasoning.
- ``ranked``: the answer the fitted answer ranker scores highest from its votes, whether it
  is greedy's, the programs that print it and the model's confidence
  (`ponder.nodes.rank.AnswerRanker`; its votes are those probabilities).
"""

_FAILURES = ("ModelError", "ModelTimeout", "BudgetOverrun")


@dataclass(frozen=True, kw_only=True, slots=True)
class ConfidenceVote:
    """The settings of the confidence votes (``confidence``, ``filtered``, ``borda``)."""

    measure: ConfidenceMeasure = "mean_logprob"
    """Which confidence figure the vote reads."""
    temperature: float = 0.3
    """``confidence``: the softmax temperature of the weights (lower: more to the confident)."""
    keep: float = 0.5
    """``filtered``: the share of the most confident candidates that vote."""
    power: float = 0.5
    """``borda``: the exponent of the Borda points."""
    corroboration: int = 1
    """``anchored``: the programs that must print another answer before it replaces the
    greedy one."""
    ranker: AnswerRanker | None = None
    """``ranked``: the answer ranker (``None``: the one ponder ships,
    `ponder.nodes.rank.default_ranker`)."""

    def votes(self, method: SelectMethod, candidates: list[Candidate]) -> dict[str, float] | None:
        """Return the votes of ``method`` (``None`` without confidences, or another method)."""
        if method == "confidence":
            return weighted_by_confidence(
                candidates, measure=self.measure, temperature=self.temperature
            )
        if method == "filtered":
            return filtered_by_confidence(candidates, measure=self.measure, keep=self.keep)
        if method == "borda":
            return borda_by_confidence(candidates, measure=self.measure, power=self.power)
        return None


def tally(candidates: Iterable[Candidate]) -> dict[str, int]:
    """Count the candidates giving each answer, in order of first appearance."""
    votes: dict[str, int] = {}
    for candidate in candidates:
        if candidate["answer"] is not None:
            votes[candidate["answer"]] = votes.get(candidate["answer"], 0) + 1
    return votes


def weighted_tally(candidates: Iterable[Candidate]) -> dict[str, float]:
    """Sum the verifier scores of the candidates giving each answer."""
    votes: dict[str, float] = {}
    for candidate in candidates:
        if candidate["answer"] is not None and candidate["score"] is not None:
            votes[candidate["answer"]] = votes.get(candidate["answer"], 0.0) + candidate["score"]
    return votes


def majority(votes: dict[str, int] | dict[str, float]) -> str | None:
    """Return the answer with most votes (the first given, on a tie), or ``None``."""
    return max(votes, key=lambda answer: votes[answer]) if votes else None


def best_scored(candidates: Iterable[Candidate]) -> Candidate | None:
    """Return the highest-scored candidate with an answer (the first drawn, on a tie).

    Candidates scored 0 (rejected outright) never win: with no better one, the caller falls
    back to the majority.
    """
    best: Candidate | None = None
    for candidate in candidates:
        score = candidate["score"]
        if candidate["answer"] is None or score is None or score <= 0:
            continue
        if best is None or score > (best["score"] or 0.0):
            best = candidate
    return best


def provisional_answer(candidates: Iterable[Candidate]) -> str | None:
    """The answer a run would give now: the best-scored candidate's, else the majority's."""
    candidates = list(candidates)
    best = best_scored(candidates)
    return best["answer"] if best is not None else majority(tally(candidates))


def choose(
    method: SelectMethod, candidates: list[Candidate], vote: ConfidenceVote | None = None
) -> tuple[str | None, dict[str, float]]:
    """Return the answer ``method`` chooses among ``candidates``, and the votes it counted.

    The select node's rule (see `SelectMethod`), also used to re-score a stored run
    (`ponder.runs.arescore`) without calling the model again.
    """
    votes: dict[str, float] = dict(tally(candidates))
    answer = majority(votes)
    confident = (vote or ConfidenceVote()).votes(method, candidates)
    if confident is not None:
        votes, answer = confident, majority(confident)
    elif method == "weighted":
        weighted = weighted_tally(candidates)
        if any(weighted.values()):
            votes, answer = weighted, majority(weighted)
    elif method == "anchored":
        settings = vote or ConfidenceVote()
        answer = anchored(candidates, corroboration=settings.corroboration)
    elif method == "ranked":
        ranker = (vote.ranker if vote is not None else None) or default_ranker()
        votes = ranker.scores(candidates)
        answer = majority(votes)
    elif method in ("best_score", "latest"):
        best = best_scored(candidates)
        if best is not None:
            answer = best["answer"]
        elif method == "latest":
            answered = [c["answer"] for c in candidates if c["answer"] is not None]
            answer = answered[-1] if answered else None
    return answer, votes


def select_node(
    method: SelectMethod | Callable[[RunState], SelectMethod],
    stop_reason: Callable[[RunState, Runtime[RunContext]], StopReason | None],
    *,
    vote: ConfidenceVote | None = None,
) -> Node:
    """Return the node that ends a strategy: the answer, the votes, the status.

    Args:
        method: How to choose (see `SelectMethod`), or a function of the state giving it
            (the adaptive strategy's plan names its rule).
        vote: The settings of a confidence vote (defaults: `ConfidenceVote`).
        stop_reason: The strategy's stopping rule, which says why sampling ended (a reason
            a node recorded in the state included); ``exhausted`` when it names none.
    """

    def select(state: RunState, *, runtime: Runtime[RunContext]) -> dict[str, Any]:
        rule = method(state) if callable(method) else method
        answer, votes = choose(rule, state.get("candidates", []), vote)
        failed = any(error["kind"] in _FAILURES for error in state.get("errors", []))
        reason = stop_reason(state, runtime) or "exhausted"
        return {
            "answer": answer,
            "votes": votes,
            "stop_reason": reason,
            "status": "failed" if failed else "done",
        }

    return select
