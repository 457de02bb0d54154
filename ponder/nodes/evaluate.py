"""The evaluate node of tree search: score every new step.

A terminal step (one that states a final answer) is judged by the run's verifier when there
is one (``accepted`` ends a search). Any other step is scored by the run's process reward
(`ponder.context.RunContext.step_scorer`) when there is one, else by a value estimate from
the model (``Score: 0-10``, one metered call). A reply with no usable number leaves the score
empty, with the reply as the reason.
"""

from __future__ import annotations

import asyncio
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.runtime import Runtime

from ponder._sync import DualNode, dual_node
from ponder.context import RunContext, context_of
from ponder.errors import ModelOutputError
from ponder.nodes._verdict import verified
from ponder.nodes.metered import Meter
from ponder.nodes.tree import is_terminal, path_text
from ponder.prompts import VALUE, PromptTemplate
from ponder.state import Candidate, RunState
from ponder.verify.reward import score_steps
from ponder.verify.score import read_score

__all__ = ("evaluate_node",)


def evaluate_node(
    *,
    accept_at: float = 1.0,
    prompt: PromptTemplate = VALUE,
    max_tokens: int = 12,
    name: str = "evaluate",
) -> DualNode:
    """Return a node that scores every unscored step (see the module docstring)."""

    async def evaluate(
        state: RunState, *, runtime: Runtime[RunContext], config: RunnableConfig
    ) -> dict[str, Any]:
        context = context_of(runtime.context)
        meter = Meter(state, context, node=name, config=config)
        candidates = state.get("candidates", [])
        by_id = {c["id"]: c for c in candidates}
        scored: list[Candidate] = []
        for step in candidates:
            if step["kind"] != "step" or step["score"] is not None or step["reason"] is not None:
                continue
            if is_terminal(step) and context.verifier is not None:
                scored.append(
                    await verified(
                        context,
                        state["problem"],
                        step,
                        accept_at=accept_at,
                        timeout=context.verifier_timeout,
                        errors=meter.errors,
                        node=name,
                    )  # fmt: skip
                )
                continue
            if context.step_scorer is not None:
                path = path_text(by_id, step["id"]).split("\n")
                try:
                    reward = await asyncio.wait_for(
                        score_steps(context.step_scorer, state["problem"], path),
                        context.verifier_timeout,
                    )
                except Exception as exc:  # a user's scorer may raise anything
                    scored.append({**step, "reason": f"step scorer failed: {exc}"})
                    continue
                scored.append({**step, "score": reward, "reason": "process reward"})
                continue
            partial = path_text(by_id, step["id"])
            result = await meter.call(
                meter.render(prompt, problem=state["problem"], partial=partial),
                max_tokens=max_tokens, stop=meter.stops(prompt), candidate_id=step["id"],
            )  # fmt: skip
            if meter.stopped:
                break
            try:
                value = read_score(result.text, scale=10, what="value")
            except ModelOutputError:
                scored.append({**step, "reason": f"unusable value: {result.text.strip()[:80]!r}"})
                continue
            scored.append({**step, "score": value, "reason": f"value {value:.2f}"})
        return meter.update(candidates=scored)

    return dual_node(evaluate, name=name)
