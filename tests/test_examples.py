"""The examples run on the embedded model, as a user would run them."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

pytestmark = pytest.mark.embedded

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


async def test_qa_agent_routes_hard_questions_to_the_strategy() -> None:
    outputs = await load("qa_agent").main()
    easy, hard = outputs
    # The direct answer is greedy (temperature 0): the model knows this one.
    assert easy["route"] == "direct" and "Paris" in easy["answer"]
    # The direct call went through the metered call: it is on the agent's ledger.
    assert [entry["node"] for entry in easy["ledger"]] == ["direct"]
    assert easy["ledger"][0]["tokens_in"] > 0 and easy["ledger"][0]["tokens_out"] > 0
    assert hard["ledger"] and all(entry["node"] == "attempt" for entry in hard["ledger"])
    assert hard["route"] == "think"
    assert "candidates" not in hard  # the agent keeps its own keys; the subgraph's stay inside
    # The strategy writes a number back (the question's answer is 7; SmolLM2's majority is
    # not always right, so only the form is checked).
    assert isinstance(hard["answer"], str)
    assert re.fullmatch(r"-?\d+(\.\d+)?", hard["answer"]), hard["answer"]


async def test_code_agent_verifies_with_the_unit_tests() -> None:
    results = await load("code_agent").main(problems=2, n=2)
    assert len(results) == 2
    for result in results:
        assert result.usage.tokens <= 6000
        assert result.candidates
        # It stops at the first passing candidate, or once it has drawn all n = 2 (6000
        # tokens afford two 320-token samples of a HumanEval prompt).
        if result.stop_reason == "verified":
            assert result.candidates[-1]["verdict"] == "accepted"
        else:
            assert result.stop_reason == "exhausted" and len(result.candidates) == 2
        for candidate in result.candidates:
            assert candidate["verdict"] in ("accepted", "rejected", "unverified")
            assert candidate["reason"]  # the test run's outcome, pass or failure


async def test_side_by_side_runs_two_strategies_on_the_embedded_model() -> None:
    outcome = await load("side_by_side").arun("Tom has 12 apples and eats 5. How many are left?")
    state = outcome.state
    assert state["vote"]["status"] == "done" and state["checked"]["status"] == "done"
    paths = {tuple(e["path"]) for e in outcome.events if e["ponder"] == "candidate"}
    assert paths == {("vote", "self-consistency"), ("checked", "best-of-n")}
    calls = len(state["vote"]["ledger"]) + len(state["checked"]["ledger"])
    assert sum(outcome.calls.names.values()) == calls
