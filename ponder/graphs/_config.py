"""Validation helpers shared by the strategy configs."""

from __future__ import annotations

import math

from ponder.errors import ConfigurationError
from ponder.prompts import ATTEMPT_PROMPTS, CODE, PROGRAM, PromptTemplate

__all__ = ("check_fraction", "check_positive_int", "check_temperature", "resolve_prompt")


def resolve_prompt(owner: str, value: object) -> PromptTemplate:
    """Return the prompt ``value`` names (a `PromptTemplate` or an attempt-prompt name)."""
    if isinstance(value, PromptTemplate):
        return value
    if isinstance(value, str) and value in ATTEMPT_PROMPTS:
        return ATTEMPT_PROMPTS[value]
    if value == "program":
        return PROGRAM
    if value == "code":
        return CODE
    raise ConfigurationError(
        f"{owner}.prompt must be a PromptTemplate or one of "
        f"{', '.join([*ATTEMPT_PROMPTS, 'program', 'code'])}; "
        f"got {value!r}"
    )


def check_positive_int(owner: str, name: str, value: object) -> None:
    """Raise `ConfigurationError` unless ``value`` is a whole number >= 1."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(f"{owner}.{name} must be a whole number >= 1, got {value!r}")


def check_fraction(owner: str, name: str, value: object) -> None:
    """Raise `ConfigurationError` unless ``value`` is a number in (0, 1]."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or not 0 < value <= 1
    ):
        raise ConfigurationError(f"{owner}.{name} must be a number in (0, 1], got {value!r}")


def check_temperature(owner: str, value: object) -> None:
    """Raise `ConfigurationError` unless ``value`` is a finite number in [0, 5]."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or not 0 <= value <= 5
    ):
        raise ConfigurationError(f"{owner}.temperature must be in [0, 5], got {value!r}")
