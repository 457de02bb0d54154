"""The expand node of tree search: add the next reasoning steps under the frontier.

A step is a candidate of kind ``step`` whose ``parent_id`` is the step before it (``root``
for the first); the solution so far is the path of step texts from the root
(`ponder.nodes.tree.path_text`). A step that states a final answer (``The answer is ...``)
is terminal: its ``answer`` is extracted from the whole path.
"""

from __future__ import annotations

import re
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.runtime import Runtime

from ponder._sync import DualNode, dual_node
from ponder.context import RunContext, context_of
from ponder.nodes.metered import CallRequest, Meter, call_candidate
from ponder.nodes.tree import path_text
from ponder.prompts import EXPAND, PromptTemplate
from ponder.state import ROOT_ID, RunState, next_index

__all__ = ("expand_node",)

_FINAL = re.compile(r"answer\s*(?:is|:)", re.IGNORECASE)


def _first_step(text: str) -> str:
    """Keep one step: the reply up to its first blank line."""
    stripped = text.strip()
    return stripped.split("\n\n", 1)[0].strip() if stripped else ""


def expand_node(
    *,
    branching: int,
    temperature: float = 0.8,
    max_tokens: int = 64,
    prompt: PromptTemplate = EXPAND,
    name: str = "expand",
) -> DualNode:
    """Return a node that adds ``branching`` next steps under every frontier node.

    Every child of the layer is one group of metered calls (one batched decode on the
    embedded model); child ``c<i>`` is sampled with seed ``seed + i``.
    """

    async def expand(
        state: RunState, *, runtime: Runtime[RunContext], config: RunnableConfig
    ) -> dict[str, Any]:
        meter = Meter(state, context_of(runtime.context), node=name, config=config)
        candidates = state.get("candidates", [])
        by_id = {c["id"]: c for c in candidates}
        index = next_index(candidates)
        stop = meter.stops(prompt)
        layer: list[tuple[str, str]] = []  # (parent id, its path), one per request
        requests: list[CallRequest] = []
        for parent in state.get("frontier", [ROOT_ID]):
            partial = path_text(by_id, parent)
            messages = meter.render(
                prompt, problem=state["problem"], partial=partial or "(nothing yet)"
            )
            for _ in range(branching):
                child = index + len(requests)
                layer.append((parent, partial))
                requests.append(
                    meter.request(
                        messages,
                        index=child,
                        max_tokens=max_tokens,
                        temperature=temperature,
                        stop=stop,
                    )  # fmt: skip
                )
        results = await meter.calls(requests)
        children = []
        for position, ((parent, partial), result) in enumerate(zip(layer, results, strict=True)):
            if not result.usable:
                continue
            step = _first_step(result.text)
            answer = meter.extract(f"{partial}\n{step}") if _FINAL.search(step) else None
            children.append(
                call_candidate(
                    result,
                    index=index + position,
                    node=name,
                    prompt=prompt.name,
                    text=step,
                    answer=answer,
                    temperature=temperature,
                    kind="step",
                    parent_id=parent,
                )  # fmt: skip
            )
        return meter.update(candidates=children)

    return dual_node(expand, name=name)
