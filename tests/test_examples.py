"""The examples run on the embedded model, as a user would run them."""

from __future__ import annotations

import importlib.util
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
    assert easy["route"] == "direct" and easy["answer"]
    assert hard["route"] == "think"
    assert "candidates" not in hard  # the agent keeps its own keys; the subgraph's stay inside
    assert hard["answer"] is None or hard["answer"].lstrip("-").replace(".", "").isdigit()


async def test_code_agent_verifies_with_the_unit_tests() -> None:
    results = await load("code_agent").main(problems=2, n=2)
    assert len(results) == 2
    for result in results:
        assert result.usage.tokens <= 6000
        assert result.candidates
        for candidate in result.candidates:
            assert candidate["verdict"] in ("accepted", "rejected", "unverified")
            assert candidate["reason"]  # the test run's outcome, pass or failure
