"""The refine node: rewrite the critiqued solution so that it addresses its critique."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from ponder.context import RunContext, usage_of
from ponder.nodes._call import call_model
from ponder.nodes._target import latest_leaf
from ponder.nodes._types import Node
from ponder.nodes.attempt import make_candidate
from ponder.prompts import REFINE, PromptTemplate
from ponder.state import RunState, next_index

__all__ = ("refine_node",)


def refine_node(
    *,
    prompt: PromptTemplate = REFINE,
    temperature: float = 0.0,
    max_tokens: int = 256,
    name: str = "refine",
) -> Node:
    """Return a node that refines the latest critiqued solution into a child candidate."""

    async def refine(state: RunState, *, runtime: Runtime[RunContext]) -> dict[str, Any]:
        context = runtime.context
        candidates = state.get("candidates", [])
        target = latest_leaf(candidates)
        if target is None or target["critique"] is None:
            return {}
        budget, usage = usage_of(state, context)
        index = next_index(candidates)
        messages = prompt.render(
            context.prompt_style,
            problem=state["problem"],
            solution=target["text"],
            critique=target["critique"],
        )
        result = await call_model(
            context, budget, usage, messages, node=name, candidate_id=f"c{index}",
            max_tokens=max_tokens, temperature=temperature, seed=context.seed + index,
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
        child, errors = await make_candidate(
            context, result, index=index, node=name, prompt=prompt,
            temperature=temperature, kind="refine", parent_id=target["id"],
        )  # fmt: skip
        update: dict[str, Any] = {"ledger": [result.entry], "candidates": [child]}
        update["errors"] = errors + ([result.overrun] if result.overrun is not None else [])
        if result.overrun is not None:
            update["stop_reason"] = "budget"
        return update

    refine.__name__ = name
    return refine
