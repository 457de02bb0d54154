from __future__ import annotations

from typing import Any

import pytest

from ponder.errors import ConfigurationError
from ponder.setup import STORED, make_context, run_settings
from ponder.testing import ScriptedChatModel


def context(**overrides: Any) -> Any:
    settings: dict[str, Any] = {
        "verifier": None, "extractor": None, "step_scorer": None, "seed": 0,
        "call_timeout": 300.0, "persisted": True,
    }  # fmt: skip
    return make_context(ScriptedChatModel(replies=["4"]), **{**settings, **overrides})


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"call_timeout": 0}, "call_timeout must be positive seconds or None"),
        ({"call_timeout": True}, "call_timeout"),
        ({"verifier_timeout": -1.0}, "verifier_timeout must be positive seconds, got -1.0"),
        ({"verifier_timeout": None}, "verifier_timeout"),
        ({"extractor": "number"}, "extractor must be callable"),
        ({"step_scorer": 0.5}, "step_scorer must be callable"),
    ],
)
def test_unusable_settings_are_refused(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        context(**overrides)


def test_settings_record_what_the_context_was_built_with() -> None:
    def steps(problem: str, path: Any, /) -> float:
        return 1.0

    built = context(call_timeout=None, verifier_timeout=2.0, step_scorer=steps)
    assert run_settings(built) == {
        "call_timeout": None, "verifier_timeout": 2.0, "extractor": None,
        "step_scorer": {"custom": "steps"},
    }  # fmt: skip
    assert repr(STORED) == "STORED"
