"""The critique node: find what is wrong with the current solution."""

from __future__ import annotations

import re
from typing import Any

from langgraph.runtime import Runtime

from ponder.context import RunContext, usage_of
from ponder.nodes._call import call_model
from ponder.nodes._target import latest_leaf
from ponder.nodes._types import Node
from ponder.prompts import CRITIQUE, PromptTemplate
from ponder.state import RunState

__all__ = ("NO_ERRORS", "critique_node", "finds_nothing")

NO_ERRORS = re.compile(r"^\W*no (errors?|issues?|mistakes?)\b", re.IGNORECASE)
"""A critique that starts like this found nothing to fix."""


def finds_nothing(critique: str) -> bool:
    """Return whether a critique says the solution needs no change."""
    return bool(NO_ERRORS.match(critique.strip())) or not critique.strip()


def critique_node(
    *, prompt: PromptTemplate = CRITIQUE, max_tokens: int = 160, name: str = "critique"
) -> Node:
    """Return a node that critiques the latest unrefined solution.

    The critique is stored on that candidate (``critique``); `finds_nothing` tells whether it
    asks for changes. When the budget refuses the call, ``stop_reason`` becomes ``budget``.
    """

    async def critique(state: RunState, *, runtime: Runtime[RunContext]) -> dict[str, Any]:
        context = runtime.context
        target = latest_leaf(state.get("candidates", []))
        if target is None:
            return {}
        budget, usage = usage_of(state, context)
        messages = prompt.render(
            context.prompt_style, problem=state["problem"], solution=target["text"]
        )
        result = await call_model(
            context, budget, usage, messages, node=name, candidate_id=target["id"],
            max_tokens=max_tokens, temperature=0.0, seed=context.seed,
            stop=prompt.stop(context.prompt_style),
        )  # fmt: skip
        if result.entry is None:
            return {"stop_reason": "budget"}
        if result.error is not None:
            return {
                "ledger": [result.entry],
                "errors": result.problems,
                "stop_reason": result.stop_reason,
            }
        update: dict[str, Any] = {
            "ledger": [result.entry],
            "candidates": [{**target, "critique": result.text.strip()}],
        }
        if result.overrun is not None:
            update["errors"] = [result.overrun]
            update["stop_reason"] = "budget"
        return update

    critique.__name__ = name
    return critique
