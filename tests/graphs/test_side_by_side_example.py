"""The side-by-side example, sync and async, on a scripted model (the embedded run is in
tests/test_examples.py)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from ponder.testing import ScriptedChatModel

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "side_by_side.py"


def example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("example_side_by_side", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def model() -> ScriptedChatModel:
    replies = iter(["12 - 5 = 8. The answer is 8."] + ["12 - 5 = 7. The answer is 7."] * 20)
    return ScriptedChatModel(reply_fn=lambda messages, kwargs: next(replies))


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_two_strategies_stream_and_trace_under_the_users_keys(mode: str) -> None:
    module = example()
    question = "Tom has 12 apples and eats 5. How many are left?"
    outcome: Any = (
        module.run(question, model()) if mode == "sync" else await module.arun(question, model())
    )
    state = outcome.state
    assert state["answer"] == "7" and state["checked"]["stop_reason"] == "verified"
    checked = state["checked"]["candidates"]
    assert [c["verdict"] for c in checked][-1] == "accepted"
    assert any(c["verdict"] == "rejected" for c in checked) or state["vote"]["answer"] == "7"
    events = outcome.events
    paths = {tuple(e["path"]) for e in events if e["ponder"] == "candidate"}
    assert paths == {("vote", "self-consistency"), ("checked", "best-of-n")}
    calls = len(state["vote"]["ledger"]) + len(state["checked"]["ledger"])
    assert sum(outcome.calls.names.values()) == calls
    assert {"side-by-side", "ponder", "ponder:attempt"} <= outcome.calls.tags
