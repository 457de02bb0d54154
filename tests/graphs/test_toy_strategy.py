"""A new strategy is one module: this file is it, and it runs through solve, the CLI and bench."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest
from langgraph.checkpoint.base import BaseCheckpointSaver

import ponder
from ponder.cli import main
from ponder.eval.bench import BenchConfig, arun_bench
from ponder.graphs import (
    STRATEGIES,
    Skeleton,
    StrategyConfig,
    StrategyGraph,
    StrategyName,
    StrategySpec,
    option,
    register_strategy,
    stop_rule,
)
from ponder.models import EmbeddedChatModel
from ponder.nodes import attempt_node
from ponder.state import RunState, StopReason
from ponder.testing import ScriptedChatModel

# -- the strategy: draw `tries` greedy answers one at a time, stop at the first one -----------


@dataclass(frozen=True, kw_only=True, slots=True)
class FirstAnswerConfig(StrategyConfig):
    """Options of the toy strategy."""

    tries: int = option(2, "positive")
    """Most attempts."""
    prompt: Any = option("direct", "prompt")
    """The attempt prompt."""

    @property
    def recursion_limit(self) -> int:
        return self.tries + 8


def build_first_answer(
    config: FirstAnswerConfig | None = None, *, checkpointer: BaseCheckpointSaver[Any] | None = None
) -> StrategyGraph:
    config = config or FirstAnswerConfig()

    def answered(state: RunState) -> StopReason | None:
        candidates = state.get("candidates", [])
        if any(c["answer"] is not None for c in candidates):
            return "converged"
        return "exhausted" if len(candidates) >= config.tries else None

    reason = stop_rule(tokens_needed=32, own=answered, verifies=False)
    attempt = attempt_node(
        prompt=config.prompt, temperature=0.0, max_tokens=32, max_candidates=config.tries
    )
    frame = Skeleton(
        "first-answer", first="attempt", resume_at="attempt", select="majority", reason=reason
    )
    return frame.node("attempt", attempt).loop("attempt", "attempt").compile(checkpointer)


SPEC = StrategySpec(
    name="first-answer",
    summary="greedy attempts until one has an answer",
    config_type=FirstAnswerConfig,
    build=build_first_answer,
    candidate_limit="tries",
    bench_options={"tries": 3, "prompt": "few_shot"},
)

# -- the tests -----------------------------------------------------------------------------

NAME = cast(StrategyName, "first-answer")


@pytest.fixture(autouse=True)
def registered() -> Iterator[None]:
    register_strategy(SPEC)
    yield
    del STRATEGIES[SPEC.name]


def replies() -> ScriptedChatModel:
    """No answer on a problem's first two tries (seeds 0 and 1), the answer on the third."""

    def reply(messages: list[Any], kwargs: dict[str, Any]) -> str:
        return "I am not sure." if kwargs["seed"] < 2 else "The answer is 42."

    return ScriptedChatModel(reply_fn=reply)


async def test_solve_runs_a_registered_strategy() -> None:
    result = await ponder.asolve("What is 6 x 7?", NAME, model=replies(), tries=3)
    assert (result.answer, result.stop_reason, len(result.candidates)) == ("42", "converged", 3)
    with pytest.raises(ponder.ConfigurationError, match="its options are: prompt, tries"):
        await ponder.asolve("q", NAME, model=replies(), n=3)


def test_the_cli_runs_it_with_its_candidate_limit(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    model = replies()
    monkeypatch.setattr(EmbeddedChatModel, "from_name", lambda *a, **k: model)
    assert main(["strategies"]) == 0
    assert "first-answer" in capsys.readouterr().out
    code = main(["solve", "What is 6 x 7?", "-s", "first-answer", "-n", "1", "--no-save",
                 "--json", "-q"])  # fmt: skip
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["strategy"] == "first-answer"
    assert len(out["candidates"]) == 1 and out["stop_reason"] == "exhausted"  # -n 1: one try


async def test_bench_runs_it_with_its_bench_options(tmp_path: Path) -> None:
    config = BenchConfig(dataset="arithmetic", strategies=("first-answer",), budgets=(3000,),
                         limit=2)  # fmt: skip
    bench = await arun_bench(
        config, db=f"sqlite+aiosqlite:///{tmp_path / 'bench.db'}", model=replies(),
        progress=False,
    )  # fmt: skip
    assert [r.strategy for r in bench.results] == ["first-answer"] * 2
    # bench_options (tries=3) take it past its default of 2 tries, to the try that answers.
    assert [(r.answer, r.candidates) for r in bench.results] == [("42", 3), ("42", 3)]
