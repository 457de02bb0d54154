"""The one verdict rule: how a score becomes ``accepted``, ``rejected`` or ``unverified``."""

from __future__ import annotations

from ponder.context import RunContext
from ponder.errors import VerifierError
from ponder.state import Candidate, RunError, VerdictLabel, run_error
from ponder.verify.verifier import run_verifier

__all__ = ("label", "scored", "unverified", "verified")


def label(score: float, accept_at: float) -> VerdictLabel:
    """Return ``accepted`` when ``score`` reaches ``accept_at``, else ``rejected``."""
    return "accepted" if score >= accept_at else "rejected"


def scored(candidate: Candidate, score: float, accept_at: float, reason: str | None) -> Candidate:
    """Return ``candidate`` judged with ``score`` (its verdict by `label`)."""
    return {**candidate, "score": score, "verdict": label(score, accept_at), "reason": reason}


def unverified(candidate: Candidate, reason: str | None = None) -> Candidate:
    """Return ``candidate`` with no usable judgment, saying why (no answer, by default)."""
    return {
        **candidate,
        "verdict": "unverified",
        "reason": reason or candidate["reason"] or "no answer found",
    }


async def verified(
    context: RunContext,
    problem: str,
    candidate: Candidate,
    *,
    accept_at: float,
    timeout: float,
    errors: list[RunError],
    node: str,
) -> Candidate:
    """Return ``candidate`` judged by the run's verifier; a failing verifier is recorded."""
    if context.verifier is None:
        raise ValueError("no verifier to judge with")
    try:
        verdict = await run_verifier(context.verifier, problem, candidate, timeout=timeout)
    except VerifierError as exc:
        errors.append(run_error(exc, node))
        return unverified(candidate, str(exc))
    return scored(candidate, verdict.score, accept_at, verdict.reason)
