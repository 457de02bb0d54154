from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from langchain_core.messages import BaseMessage

import ponder
from ponder.errors import ConfigurationError
from ponder.graphs import MctsConfig, StrategyName
from ponder.testing import ScriptedChatModel


def stepper(
    first: str = "First add 3 and 4.",
    last: str = "3 + 4 = 7. The answer is 7.",
    value: str = "Score: 7",
) -> ScriptedChatModel:
    def reply(messages: list[BaseMessage], kwargs: dict[str, Any]) -> str:
        text = messages[-1].text
        if "How likely" in text:
            return value
        return first if "(nothing yet)" in text else last

    return ScriptedChatModel(reply_fn=reply)


@pytest.mark.parametrize("strategy", ["beam-search", "mcts"])
async def test_search_builds_a_tree_of_steps(strategy: StrategyName) -> None:
    result = await ponder.asolve("3 + 4 =", strategy, model=stepper())
    assert result.answer == "7"
    steps = {c["id"]: c for c in result.candidates}
    assert all(c["kind"] == "step" for c in steps.values())
    roots = [c for c in steps.values() if c["parent_id"] == "root"]
    assert len(roots) == 2
    finals = [c for c in steps.values() if c["answer"] is not None]
    assert finals and all(steps[c["parent_id"]]["answer"] is None for c in finals)
    assert all(c["score"] == pytest.approx(0.7) for c in steps.values())


@pytest.mark.parametrize("strategy", ["beam-search", "mcts"])
async def test_search_stops_when_a_final_step_verifies(strategy: StrategyName) -> None:
    result = await ponder.asolve(
        "3 + 4 =", strategy, model=stepper(), verifier=ponder.ExpectedAnswer("7")
    )
    assert result.stop_reason == "verified"


async def test_unusable_values_are_recorded_not_defaulted() -> None:
    result = await ponder.asolve("3 + 4 =", "beam-search", model=stepper(value="hmm"))
    partial = [c for c in result.candidates if c["answer"] is None]
    assert partial and all(c["score"] is None for c in partial)
    assert all("unusable value" in (c["reason"] or "") for c in partial)


async def test_mcts_statistics_count_visits() -> None:
    result = await ponder.asolve("3 + 4 =", "mcts", model=stepper(), iterations=3)
    assert result.stop_reason == "exhausted"  # every branch reached a final answer


def test_mcts_config_validation() -> None:
    with pytest.raises(ConfigurationError):
        MctsConfig(exploration=-1.0)
    with pytest.raises(ConfigurationError):
        MctsConfig(branching=0)


async def test_a_process_reward_replaces_the_value_prompt() -> None:
    seen: list[list[str]] = []

    def reward(problem: str, steps: Sequence[str], /) -> float:
        seen.append(list(steps))
        return 0.9 if "add" in steps[-1] else 0.4

    model = stepper()
    result = await ponder.asolve("3 + 4 =", "beam-search", model=model, step_scorer=reward)
    assert result.answer == "7"
    assert not any("How likely" in str(call) for call in model.calls)
    assert ["First add 3 and 4."] in seen
    assert result.usage.calls == sum(c["kind"] == "step" for c in result.candidates)
