"""The refine node: rewrite the critiqued solution so that it addresses its critique."""

from __future__ import annotations

from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.runtime import Runtime

from ponder._sync import DualNode, dual_node
from ponder.context import RunContext, context_of
from ponder.nodes.metered import Meter
from ponder.nodes.tree import latest_leaf
from ponder.prompts import REFINE, PromptTemplate
from ponder.state import RunState, next_index

__all__ = ("refine_node",)


def refine_node(
    *,
    prompt: PromptTemplate = REFINE,
    temperature: float = 0.0,
    max_tokens: int = 256,
    name: str = "refine",
) -> DualNode:
    """Return a node that refines the latest critiqued solution into a child candidate."""

    async def refine(
        state: RunState, *, runtime: Runtime[RunContext], config: RunnableConfig
    ) -> dict[str, Any]:
        candidates = state.get("candidates", [])
        target = latest_leaf(candidates)
        if target is None or target["critique"] is None:
            return {}
        meter = Meter(state, context_of(runtime.context), node=name, config=config)
        index = next_index(candidates)
        messages = meter.render(
            prompt, problem=state["problem"], solution=target["text"],
            critique=target["critique"],
        )  # fmt: skip
        result = await meter.call(
            messages, max_tokens=max_tokens, temperature=temperature,
            seed=meter.context.seed + index, stop=meter.stops(prompt), candidate_id=f"c{index}",
        )  # fmt: skip
        if not result.usable:
            return meter.update()
        child = await meter.candidate(
            result, index=index, prompt=prompt, temperature=temperature, kind="refine",
            parent_id=target["id"],
        )  # fmt: skip
        return meter.update(candidates=[child])

    return dual_node(refine, name=name)
