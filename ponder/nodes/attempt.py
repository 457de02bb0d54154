"""The attempt node: draw candidate solutions of the problem from the model."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from ponder.context import RunContext, usage_of
from ponder.nodes._call import call_model
from ponder.nodes._types import Node
from ponder.prompts import PromptTemplate
from ponder.state import ROOT_ID, Candidate, LedgerEntry, RunError, RunState, StopReason, new_id

__all__ = ("attempt_node", "extract_answer")


def extract_answer(context: RunContext, text: str, node: str) -> tuple[str | None, RunError | None]:
    """Run the context's extractor on ``text``; an extractor that raises gives no answer."""
    try:
        return context.extractor(text), None
    except Exception as exc:  # a user's extractor may raise anything
        return None, RunError(
            id=new_id(), node=node, kind="ExtractorError", message=f"{type(exc).__name__}: {exc}"
        )


def attempt_node(
    *,
    prompt: PromptTemplate,
    temperature: float,
    max_tokens: int,
    per_step: int = 1,
    max_candidates: int,
    name: str = "attempt",
) -> Node:
    """Return a node that samples up to ``per_step`` candidates per step.

    Args:
        prompt: The attempt prompt.
        temperature: Sampling temperature (0 is greedy).
        max_tokens: Output cap per candidate, in tokens.
        per_step: Candidates drawn per step (the routing edge decides whether to step again).
        max_candidates: The node never lets the run hold more candidates than this.
        name: The node's name, recorded in candidates and the ledger.

    The node stops early (and sets ``stop_reason``) when the budget refuses a call
    (``"budget"``) or the model fails (``"error"``); candidates drawn before are kept.
    """

    async def attempt(state: RunState, *, runtime: Runtime[RunContext]) -> dict[str, Any]:
        context = runtime.context
        budget, usage = usage_of(state, context)
        messages = prompt.render(context.prompt_style, problem=state["problem"])
        start = len(state.get("candidates", []))
        count = max(0, min(per_step, max_candidates - start))
        candidates: list[Candidate] = []
        ledger: list[LedgerEntry] = []
        errors: list[RunError] = []
        stop_reason: StopReason | None = None
        for index in range(start, start + count):
            result = await call_model(
                context,
                budget,
                usage,
                messages,
                node=name,
                candidate_id=f"c{index}",
                max_tokens=max_tokens,
                temperature=temperature,
                seed=context.seed + index,
                stop=prompt.stop(context.prompt_style),
            )
            if result.entry is None:
                stop_reason = "budget"
                break
            ledger.append(result.entry)
            usage = usage.plus(result.entry)
            if result.error is not None:
                errors.append(result.error)
                stop_reason = "error"
                break
            answer, problem = extract_answer(context, result.text, name)
            if problem is not None:
                errors.append(problem)
            candidates.append(
                Candidate(
                    id=f"c{index}",
                    parent_id=ROOT_ID,
                    kind="attempt",
                    node=name,
                    prompt=prompt.name,
                    text=result.text,
                    answer=answer,
                    score=None,
                    verdict=None,
                    reason=None,
                    temperature=temperature,
                    seed=result.seed,
                    tokens_in=result.entry["tokens_in"],
                    tokens_out=result.entry["tokens_out"],
                    latency_s=result.entry["latency_s"],
                    finish_reason=result.finish_reason,
                )
            )
        update: dict[str, Any] = {"candidates": candidates, "ledger": ledger, "errors": errors}
        if stop_reason is not None:
            update["stop_reason"] = stop_reason
        return update

    attempt.__name__ = name
    return attempt
