from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import BaseMessage

import ponder
from ponder.cli import main
from ponder.errors import ConfigurationError
from ponder.graphs import STRATEGIES, GreedyConfig, SelfConsistencyConfig, build_strategy
from ponder.models.embedded import EmbeddedChatModel
from ponder.prompts import FEW_SHOT, PromptTemplate
from ponder.testing import ScriptedChatModel


async def test_one_answer_at_temperature_zero_with_the_few_shot_prompt() -> None:
    seen: list[list[BaseMessage]] = []

    def reply(messages: list[BaseMessage], _options: dict[str, Any]) -> str:
        seen.append(messages)
        return "3 + 4 = 7. The answer is 7."

    model = ScriptedChatModel(reply_fn=reply)
    result = await ponder.asolve("What is 3 + 4?", strategy="greedy", model=model)
    assert result.answer == "7" and result.status == "done"
    assert len(result.candidates) == 1 and result.usage.calls == 1
    (candidate,) = result.candidates
    assert candidate["temperature"] == 0.0 and candidate["prompt"] == FEW_SHOT.name
    assert [call["temperature"] for call in model.calls] == [0.0]
    # the few-shot examples are earlier chat turns, the question the last one
    (messages,) = seen
    assert len(messages) == 2 * len(FEW_SHOT.examples) + 1
    assert messages[-1].text == "What is 3 + 4?"
    assert result.usage.tokens == candidate["tokens_in"] + candidate["tokens_out"]


def test_sync_and_no_answer_is_a_result() -> None:
    result = ponder.solve("q", strategy="greedy", model=ScriptedChatModel(replies=["Hmm."]))
    assert result.answer is None and result.status == "done" and len(result.candidates) == 1


def test_is_self_consistency_of_one_greedy_sample_whatever_its_defaults() -> None:
    config = GreedyConfig()
    assert isinstance(config, SelfConsistencyConfig)
    fixed = (config.max_samples, config.min_samples, config.greedy_first, config.programs)
    assert fixed == (1, 1, True, 0) and config.select == "majority"
    prompt = GreedyConfig(max_tokens=64, prompt="step_by_step").prompt
    assert isinstance(prompt, PromptTemplate) and prompt.name == "step_by_step"
    for option in ({"max_samples": 3}, {"programs": 2}, {"greedy_first": False}):
        with pytest.raises(ConfigurationError, match="greedy draws one answer at temperature 0"):
            GreedyConfig(**option)


def test_registered_drawn_and_named_greedy() -> None:
    assert "greedy" in STRATEGIES and STRATEGIES["greedy"].config_type is GreedyConfig
    graph = build_strategy("greedy", max_tokens=100)
    assert graph.name == "greedy"
    edges = {(e.source, e.target) for e in graph.get_graph().edges}
    assert ("attempt", "select") in edges and ("attempt", "attempt") not in edges
    sampling = {(e.source, e.target) for e in build_strategy("self-consistency").get_graph().edges}
    assert ("attempt", "attempt") in sampling


def test_command_line_solves_lists_and_draws_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    model = ScriptedChatModel(replies=["The answer is 4."])
    monkeypatch.setattr(EmbeddedChatModel, "from_name", lambda *a, **k: model)
    db = f"sqlite+aiosqlite:///{tmp_path / 'runs.db'}"
    argv = ["solve", "2 + 2?", "--strategy", "greedy", "-q", "--db", db, "--json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["answer"] == "4" and len(out["candidates"]) == 1
    assert main(["runs", "--db", db, "--json"]) == 0
    assert [run["strategy"] for run in json.loads(capsys.readouterr().out)] == ["greedy"]
    assert main(["strategies"]) == 0
    assert capsys.readouterr().out.startswith("greedy ")
    assert main(["graph", "greedy"]) == 0
    assert "attempt -.-> select" in capsys.readouterr().out
