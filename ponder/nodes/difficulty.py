"""The difficulty node: estimate how hard the problem is, as a number in [0, 1].

Two methods (`DifficultyMethod`):

- ``rating``: ask the model to rate the problem from 1 to 10 (one short call);
- ``probe``: draw a few cheap samples and measure their disagreement, model-agnostic
  (1 - the leading answer's share; 1.0 when no sample has an answer). The probe samples are
  kept as candidates (kind ``probe``), so their votes are not wasted.
"""

from __future__ import annotations

from typing import Any, Literal

from langchain_core.runnables import RunnableConfig
from langgraph.runtime import Runtime

from ponder._sync import DualNode, dual_node
from ponder.context import RunContext, context_of
from ponder.errors import ModelOutputError
from ponder.nodes.attempt import draw_candidates
from ponder.nodes.metered import Meter
from ponder.nodes.select import tally
from ponder.prompts import DIFFICULTY, FEW_SHOT, PromptTemplate
from ponder.state import RunState, next_index
from ponder.verify.score import read_score

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
    probe_first_temperature: float | None = None,
    rating_prompt: PromptTemplate = DIFFICULTY,
    name: str = "estimate_difficulty",
) -> DualNode:
    """Return a node that writes ``difficulty`` (see the module docstring).

    With ``probe_first_temperature`` the first probe is drawn at that temperature (0: the
    greedy answer), alone, then the others together at ``probe_temperature``.
    """

    async def estimate(
        state: RunState, *, runtime: Runtime[RunContext], config: RunnableConfig
    ) -> dict[str, Any]:
        meter = Meter(state, context_of(runtime.context), node=name, config=config)
        if method == "probe":
            start = next_index(state.get("candidates", []))
            # A greedy probe is drawn alone: decoded in a batch with others, its tokens can
            # differ from greedy decoding's (`ponder.models.embedded`).
            waves = [range(start, start + probe_samples)]
            if probe_first_temperature is not None and probe_samples > 1:
                waves = [range(start, start + 1), range(start + 1, start + probe_samples)]
            drawn = []
            for wave in waves:
                update = await draw_candidates(
                    meter, state["problem"], prompt=probe_prompt, indices=wave,
                    temperature=probe_temperature, max_tokens=probe_max_tokens, kind="probe",
                    first_temperature=probe_first_temperature, first_index=start,
                )  # fmt: skip
                drawn += update["candidates"]
                if meter.stop_reason is not None:
                    break
            update["candidates"] = drawn
            votes = tally(drawn)
            update["difficulty"] = (
                1.0 - max(votes.values()) / len(drawn) if votes and drawn else 1.0
            )
            update.pop("stop_reason", None)  # an estimate never ends the run by itself
            return update
        result = await meter.call(
            meter.render(rating_prompt, problem=state["problem"]), max_tokens=8,
            stop=meter.stops(rating_prompt),
        )  # fmt: skip
        meter.stop_reason = None  # an estimate never ends the run by itself
        if result.refused:
            return {"difficulty": _UNKNOWN}
        try:
            rating = read_score(result.text, scale=10, low=1, what="difficulty rating")
        except ModelOutputError as exc:
            if result.usable:
                meter.record(exc)
            rating = _UNKNOWN
        return meter.update(difficulty=rating)

    return dual_node(estimate, name=name)
