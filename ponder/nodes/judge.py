"""The judge node: an LLM scores every unjudged candidate, charged to the budget.

The score is parsed from text (``Score: 7``), so the judge works on servers that refuse
structured output. A reply with no usable score leaves the candidate ``unverified`` with the
reply as the reason: an unusable judgment is recorded as such, never as a default score.
"""

from __future__ import annotations

from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.runtime import Runtime

from ponder._sync import DualNode, dual_node
from ponder.context import RunContext, context_of
from ponder.errors import ModelOutputError
from ponder.nodes._verdict import scored, unverified
from ponder.nodes.metered import Meter
from ponder.prompts import JUDGE, PromptTemplate
from ponder.state import Candidate, RunState
from ponder.verify.score import read_score

__all__ = ("judge_node",)


def judge_node(
    *,
    prompt: PromptTemplate = JUDGE,
    accept_at: float = 0.8,
    max_tokens: int = 16,
    name: str = "judge",
) -> DualNode:
    """Return a node that scores unjudged candidates with the run's model as judge."""

    async def judge(
        state: RunState, *, runtime: Runtime[RunContext], config: RunnableConfig
    ) -> dict[str, Any]:
        meter = Meter(state, context_of(runtime.context), node=name, config=config)
        judged: list[Candidate] = []
        for candidate in state.get("candidates", []):
            if candidate["verdict"] is not None or candidate["kind"] == "step":
                continue
            if candidate["answer"] is None:
                judged.append(unverified(candidate))
                continue
            result = await meter.call(
                meter.render(prompt, problem=state["problem"], solution=candidate["text"]),
                max_tokens=max_tokens, stop=meter.stops(prompt), candidate_id=candidate["id"],
            )  # fmt: skip
            if meter.stopped:
                break  # the budget is spent or the model failed: the rest stay unjudged
            try:
                score = read_score(result.text, scale=10, what="judgment")
            except ModelOutputError:
                reason = f"unusable judgment: {result.text.strip()[:120]!r}"
                judged.append(unverified(candidate, reason))
                continue
            judged.append(scored(candidate, score, accept_at, f"judge: {score:.1f}"))
        return meter.update(candidates=judged)

    return dual_node(judge, name=name)
