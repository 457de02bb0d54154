"""The base of every strategy's options: a frozen, keyword-only dataclass checked on creation.

A strategy's config subclasses `StrategyConfig` and declares each option with `option`,
naming the check it needs (``positive``, ``fraction``, ``temperature``, ``prompt``); the base's
``__post_init__`` runs the checks (a bad value is a `ConfigurationError` naming the option)
and turns a prompt named by string into its `ponder.prompts.PromptTemplate`.

Example:
    >>> from dataclasses import dataclass
    >>> @dataclass(frozen=True, kw_only=True, slots=True)
    ... class ToyConfig(StrategyConfig):
    ...     n: int = option(3, "positive")
    ...     @property
    ...     def recursion_limit(self) -> int:
    ...         return self.n + 5
    >>> ToyConfig(n=0)
    Traceback (most recent call last):
    ...
    ponder.errors.ConfigurationError: ToyConfig.n must be a whole number >= 1, got 0
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Literal

from ponder._sync import DualNode
from ponder.errors import ConfigurationError
from ponder.nodes import attempt_node
from ponder.prompts import FEW_SHOT, PromptName, PromptTemplate, resolve_prompt

__all__ = ("Check", "SamplingConfig", "StrategyConfig", "TreeSearchConfig", "option")

Check = Literal["positive", "count", "fraction", "optional_fraction", "temperature", "prompt"]
"""What an option must be.

- ``positive``: a whole number >= 1.
- ``fraction``: a number in (0, 1].
- ``optional_fraction``: ``None`` (off) or a number in (0, 1].
- ``temperature``: a finite number in [0, 5].
- ``prompt``: a `ponder.prompts.PromptTemplate` or a `ponder.prompts.PromptName` (resolved
  to its template).
"""


def option(default: Any, check: Check | None = None) -> Any:
    """Declare a config option with its default and the check it needs."""
    return dataclasses.field(default=default, metadata={"check": check})


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class StrategyConfig:
    """The base of a strategy's options (see the module docstring)."""

    def __post_init__(self) -> None:
        owner = type(self).__name__
        for item in dataclasses.fields(self):
            check = item.metadata.get("check")
            value = getattr(self, item.name)
            where = f"{owner}.{item.name}"
            if check == "positive" and (
                isinstance(value, bool) or not isinstance(value, int) or value < 1
            ):
                raise ConfigurationError(f"{where} must be a whole number >= 1, got {value!r}")
            if check == "count" and (
                isinstance(value, bool) or not isinstance(value, int) or value < 0
            ):
                raise ConfigurationError(f"{where} must be a whole number >= 0, got {value!r}")
            if check == "fraction" and not (_is_number(value) and 0 < value <= 1):
                raise ConfigurationError(f"{where} must be a number in (0, 1], got {value!r}")
            if check == "optional_fraction" and not (
                value is None or (_is_number(value) and 0 < value <= 1)
            ):
                raise ConfigurationError(
                    f"{where} must be None (off) or a number in (0, 1], got {value!r}"
                )
            if check == "temperature" and not (_is_number(value) and 0 <= value <= 5):
                raise ConfigurationError(f"{where} must be in [0, 5], got {value!r}")
            if check == "prompt":
                object.__setattr__(self, item.name, resolve_prompt(value, where))

    @property
    def recursion_limit(self) -> int:
        """LangGraph super-steps the strategy can need (so the budget, not LangGraph, ends it)."""
        raise NotImplementedError


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class SamplingConfig(StrategyConfig):
    """The options of strategies that sample whole solutions from one prompt."""

    temperature: float = option(0.7, "temperature")
    """Sampling temperature."""
    max_tokens: int = option(256, "positive")
    """Output cap per sample, in tokens."""
    prompt: PromptTemplate | PromptName = option(FEW_SHOT, "prompt")
    """The attempt prompt (a template, or the name of one in `ponder.prompts.ATTEMPT_PROMPTS`)."""
    greedy_first: bool = False
    """Draw the first sample at temperature 0 (the greedy answer), the rest at
    ``temperature`` (self-consistency draws it alone, in a step of its own, so that it is
    greedy decoding's own text: in a batch its tokens could differ)."""
    early_stop: float | None = option(None, "optional_fraction")
    """Stop a sample early once its confidence falls below the floor that this share of
    the first samples would pass (DeepConf's online mode: 0.9 keeps most; see
    `ponder.nodes.attempt.confidence_floor`); a stopped sample does not vote. ``None``: off.
    Only models that report token confidence in-process stop samples (the embedded
    model)."""

    def attempt_node(
        self, *, max_candidates: int | None, per_step: Any = 1, greedy_first: bool | None = None
    ) -> DualNode:
        """Return the attempt node these options describe (`ponder.nodes.attempt_node`).

        ``greedy_first`` overrides the option of that name (a strategy whose selection needs
        the greedy answer draws it whatever the option says).
        """
        greedy = self.greedy_first if greedy_first is None else greedy_first
        return attempt_node(
            prompt=self.prompt, temperature=self.temperature, max_tokens=self.max_tokens,
            per_step=per_step, max_candidates=max_candidates,
            first_temperature=0.0 if greedy else None, early_stop=self.early_stop,
        )  # fmt: skip


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class TreeSearchConfig(StrategyConfig):
    """The options of strategies that search a tree of reasoning steps."""

    branching: int = option(2, "positive")
    """Next steps drawn when a node is expanded."""
    max_depth: int = option(4, "positive")
    """Most steps in a solution."""
    temperature: float = option(0.8, "temperature")
    """Sampling temperature of steps."""
    step_tokens: int = option(64, "positive")
    """Output cap of one step, in tokens."""
    accept_at: float = 1.0
    """A verifier score at or above this ends the search."""
