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
