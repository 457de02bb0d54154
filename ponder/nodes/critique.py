"""The critique node: find what is wrong with the current solution."""

from __future__ import annotations

import re
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.runtime import Runtime

from ponder._sync import DualNode, dual_node
from ponder.context import RunContext, context_of
from ponder.nodes.metered import Meter
from ponder.nodes.tree import latest_leaf
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
) -> DualNode:
    """Return a node that critiques the latest unrefined solution.

    The critique is stored on that candidate (``critique``); `finds_nothing` tells whether it
    asks for changes. When the budget refuses the call, ``stop_reason`` becomes ``budget``.
    """

    async def critique(
        state: RunState, *, runtime: Runtime[RunContext], config: RunnableConfig
    ) -> dict[str, Any]:
        target = latest_leaf(state.get("candidates", []))
        if target is None:
            return {}
        meter = Meter(state, context_of(runtime.context), node=name, config=config)
        result = await meter.call(
            meter.render(prompt, problem=state["problem"], solution=target["text"]),
            max_tokens=max_tokens, stop=meter.stops(prompt), candidate_id=target["id"],
        )  # fmt: skip
        if not result.usable:
            return meter.update()
        return meter.update(candidates=[{**target, "critique": result.text.strip()}])

    return dual_node(critique, name=name)
