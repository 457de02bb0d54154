"""The verify node: judge every candidate that has not been judged yet."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from ponder.context import RunContext, seconds_left
from ponder.errors import ConfigurationError, VerifierError
from ponder.nodes._types import Node
from ponder.state import Candidate, RunError, RunState, VerdictLabel, new_id
from ponder.verify.verifier import run_verifier

__all__ = ("verify_node",)


def verify_node(*, accept_at: float = 1.0, optional: bool = False, name: str = "verify") -> Node:
    """Return a node that scores unjudged candidates with the context's verifier.

    Args:
        accept_at: A score at or above this marks the candidate ``accepted``.
        optional: Do nothing when the run has no verifier (instead of raising).
        name: The node's name, recorded with errors.

    A candidate with no answer, or whose verifier raises or times out, is marked
    ``unverified`` with the reason; the run goes on.
    """

    async def verify(state: RunState, *, runtime: Runtime[RunContext]) -> dict[str, Any]:
        context = runtime.context
        if context.verifier is None:
            if optional:
                return {}
            raise ConfigurationError("this strategy needs a verifier: pass verifier=...")
        judged: list[Candidate] = []
        errors: list[RunError] = []
        stop: str | None = None
        for candidate in state.get("candidates", []):
            if candidate["verdict"] is not None or candidate["kind"] == "step":
                continue
            left = seconds_left(state, context)
            if left is not None and left <= 0:
                stop = "budget"  # no time left to judge the rest: they stay unjudged
                break
            timeout = (
                context.verifier_timeout if left is None else min(left, context.verifier_timeout)
            )
            if candidate["answer"] is None:
                judged.append(
                    {
                        **candidate,
                        "verdict": "unverified",
                        "reason": candidate["reason"] or "no answer found",
                    }
                )
                continue
            try:
                verdict = await run_verifier(
                    context.verifier, state["problem"], candidate, timeout=timeout
                )
            except VerifierError as exc:
                errors.append(
                    RunError(id=new_id(), node=name, kind="VerifierError", message=str(exc))
                )
                judged.append({**candidate, "verdict": "unverified", "reason": str(exc)})
                continue
            label: VerdictLabel = "accepted" if verdict.score >= accept_at else "rejected"
            judged.append(
                {**candidate, "score": verdict.score, "verdict": label, "reason": verdict.reason}
            )
        update: dict[str, Any] = {"candidates": judged, "errors": errors}
        if stop is not None:
            update["stop_reason"] = stop
        return update

    verify.__name__ = name
    return verify
