"""The judge node: an LLM scores every unjudged candidate, charged to the budget.

The score is parsed from text (``Score: 7``), so the judge works on servers that refuse
structured output. A reply with no usable score leaves the candidate ``unverified`` with the
reply as the reason: an unusable judgment is recorded as such, never as a default score.
"""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from ponder.context import RunContext, usage_of
from ponder.nodes._call import call_model
from ponder.nodes._types import Node
from ponder.prompts import JUDGE, PromptTemplate
from ponder.state import Candidate, LedgerEntry, RunError, RunState, VerdictLabel
from ponder.verify.score import parse_score

__all__ = ("judge_node",)


def judge_node(
    *,
    prompt: PromptTemplate = JUDGE,
    accept_at: float = 0.8,
    max_tokens: int = 16,
    name: str = "judge",
) -> Node:
    """Return a node that scores unjudged candidates with the run's model as judge."""

    async def judge(state: RunState, *, runtime: Runtime[RunContext]) -> dict[str, Any]:
        context = runtime.context
        budget, usage = usage_of(state, context)
        judged: list[Candidate] = []
        ledger: list[LedgerEntry] = []
        errors: list[RunError] = []
        stop: str | None = None
        for candidate in state.get("candidates", []):
            if candidate["verdict"] is not None or candidate["kind"] == "step":
                continue
            if candidate["answer"] is None:
                judged.append(
                    {
                        **candidate,
                        "verdict": "unverified",
                        "reason": candidate["reason"] or "no answer found",
                    }
                )
                continue
            messages = prompt.render(
                context.prompt_style, problem=state["problem"], solution=candidate["text"]
            )
            result = await call_model(
                context, budget, usage, messages, node=name, candidate_id=candidate["id"],
                max_tokens=max_tokens, temperature=0.0, seed=context.seed,
                stop=prompt.stop(context.prompt_style),
            )  # fmt: skip
            if result.entry is None:
                break  # the budget is spent: the rest stay unjudged
            ledger.append(result.entry)
            usage = usage.plus(result.entry)
            if result.error is not None or result.overrun is not None:
                errors += result.problems
                stop = result.stop_reason
                break
            score = parse_score(result.text, scale=10)
            if score is None:
                reason = f"unusable judgment: {result.text.strip()[:120]!r}"
                judged.append({**candidate, "verdict": "unverified", "reason": reason})
                continue
            label: VerdictLabel = "accepted" if score >= accept_at else "rejected"
            judged.append(
                {**candidate, "score": score, "verdict": label, "reason": f"judge: {score:.1f}"}
            )
        update: dict[str, Any] = {"candidates": judged, "ledger": ledger, "errors": errors}
        if stop is not None:
            update["stop_reason"] = stop
        return update

    judge.__name__ = name
    return judge
