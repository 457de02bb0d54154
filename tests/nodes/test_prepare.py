from __future__ import annotations

import pytest

from ponder.budget import Budget
from ponder.errors import ConfigurationError
from ponder.nodes import prepare


def test_prepare_checks_the_input_and_starts_the_run() -> None:
    assert prepare({"problem": "q", "budget": Budget(tokens=9).to_limits()})["status"] == "running"
    with pytest.raises(ConfigurationError, match="empty"):
        prepare({"problem": "  ", "budget": Budget(tokens=9).to_limits()})
    with pytest.raises(ConfigurationError, match="no budget"):
        prepare({"problem": "q"})  # type: ignore[typeddict-item]


def test_a_top_level_run_restarts_its_clock_and_a_nested_one_keeps_its_parents() -> None:
    """A thread reused for a second problem must not keep the first one's start; a strategy
    nested in another's graph counts from its parent's start."""
    stale = {"problem": "q", "budget": {"tokens": 9}, "started_at": 1.0}
    top = {"configurable": {"checkpoint_ns": "prepare:1"}}
    inner = {"configurable": {"checkpoint_ns": "refine:7|prepare:2"}}
    assert prepare(stale, top)["started_at"] > 1.0  # type: ignore[arg-type]
    assert prepare(stale, inner)["started_at"] == 1.0  # type: ignore[arg-type]
    assert prepare(stale)["started_at"] > 1.0  # type: ignore[arg-type]
