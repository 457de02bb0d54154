"""The difficulty node: estimate how hard the problem is, as a number in [0, 1].

Two methods (`DifficultyMethod`):

- ``rating``: ask the model to rate the problem from 1 to 10 (one short call);
- ``probe``: draw a few cheap samples and measure their disagreement, model-agnostic
  (1 - the leading answer's share; 1.0 when no sample has an answer). The probe samples are
  kept as candidates (kind ``probe``), so their votes are not wasted.
"""

from __future__ import annotations

from typing import Any, Literal

from langgraph.runtime import Runtime

from ponder.context import RunContext, usage_of
from ponder.nodes._call import call_model
from ponder.nodes._types import Node
from ponder.nodes.attempt import draw_candidates
from ponder.nodes.select import tally
from ponder.prompts import DIFFICULTY, FEW_SHOT, PromptTemplate
from ponder.state import RunError, RunState, new_id, next_index
from ponder.verify.score import parse_score

__all__ = ("DifficultyMethod", "difficulty_node")

DifficultyMethod = Literal["rating", "probe"]
"""How difficulty is estimated: an LLM ``rating``, or the disagreement of a ``probe``."""

_UNKNOWN = 0.5
"""Difficulty assumed when the estimate is unusable (recorded as an error)."""


def difficulty_node(
    method: DifficultyMethod = "probe",
    *,
    probe_samples: int = 3,
    probe_prompt: PromptTemplate = FEW_SHOT,
    probe_temperature: float = 0.8,
    probe_max_tokens: int = 128,
    rating_prompt: PromptTemplate = DIFFICULTY,
    name: str = "estimate_difficulty",
) -> Node:
    """Return a node that writes ``difficulty`` (see the module docstring)."""

    async def estimate(state: RunState, *, runtime: Runtime[RunContext]) -> dict[str, Any]:
        context = runtime.context
        budget, usage = usage_of(state, context)
        if method == "probe":
            start = next_index(state.get("candidates", []))
            update = await draw_candidates(
                context, budget, usage, state["problem"],
                prompt=probe_prompt, indices=range(start, start + probe_samples), node=name,
                temperature=probe_temperature, max_tokens=probe_max_tokens, kind="probe",
            )  # fmt: skip
            drawn = update["candidates"]
            votes = tally(drawn)
            update["difficulty"] = (
                1.0 - max(votes.values()) / len(drawn) if votes and drawn else 1.0
            )
            update.pop("stop_reason", None)  # an estimate never ends the run by itself
            return update
        messages = rating_prompt.render(context.prompt_style, problem=state["problem"])
        result = await call_model(
            context, budget, usage, messages, node=name, candidate_id=None,
            max_tokens=8, temperature=0.0, seed=context.seed,
            stop=rating_prompt.stop(context.prompt_style),
        )  # fmt: skip
        if result.entry is None:
            return {"difficulty": _UNKNOWN}
        update = {"ledger": [result.entry], "errors": result.problems}
        rating = parse_score(result.text, scale=10, low=1) if result.error is None else None
        if rating is None:
            update["errors"].append(
                RunError(
                    id=new_id(),
                    node=name,
                    kind="ModelOutputError",
                    message=f"unusable difficulty rating {result.text[:80]!r}; assumed {_UNKNOWN}",
                )  # fmt: skip
            )
        update["difficulty"] = _UNKNOWN if rating is None else rating
        return update

    estimate.__name__ = name
    return estimate
