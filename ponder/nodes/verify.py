"""The verify node: judge every candidate that has not been judged yet."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from ponder._sync import DualNode, dual_node
from ponder.context import RunContext, context_of, seconds_left
from ponder.errors import ConfigurationError
from ponder.nodes._verdict import unverified, verified
from ponder.state import Candidate, RunError, RunState

__all__ = ("verify_node",)


def verify_node(
    *, accept_at: float = 1.0, optional: bool = False, name: str = "verify"
) -> DualNode:
    """Return a node that scores unjudged candidates with the context's verifier.

    Args:
        accept_at: A score at or above this marks the candidate ``accepted``.
        optional: Do nothing when the run has no verifier (instead of raising).
        name: The node's name, recorded with errors.

    A candidate with no answer, or whose verifier raises or times out, is marked
    ``unverified`` with the reason; the run goes on.
    """

    async def verify(state: RunState, *, runtime: Runtime[RunContext]) -> dict[str, Any]:
        context = context_of(runtime.context)
        if context.verifier is None:
            if optional:
                return {}
            raise ConfigurationError("this strategy needs a verifier: pass verifier=...")
        judged: list[Candidate] = []
        errors: list[RunError] = []
        update: dict[str, Any] = {"candidates": judged, "errors": errors}
        for candidate in state.get("candidates", []):
            if candidate["verdict"] is not None or candidate["kind"] == "step":
                continue
            left = seconds_left(state, context)
            if left is not None and left <= 0:
                update["stop_reason"] = "budget"  # no time left to judge the rest
                break
            if candidate["answer"] is None:
                judged.append(unverified(candidate))
                continue
            timeout = (
                context.verifier_timeout if left is None else min(left, context.verifier_timeout)
            )
            judged.append(
                await verified(
                    context,
                    state["problem"],
                    candidate,
                    accept_at=accept_at,
                    timeout=timeout,
                    errors=errors,
                    node=name,
                )  # fmt: skip
            )
        return update

    return dual_node(verify, name=name)
