"""Budgets in named units and the arithmetic of spending them.

A `Budget` holds limits (tokens, model calls, wall seconds, money); the run's ledger (a list of
`ponder.state.LedgerEntry` in the graph state) records what every model call cost; `Usage` is
the sum. Before every model call a node asks `plan_call` whether the call's *worst case*
(prompt tokens plus ``max_tokens``) fits what remains, so a limit is never exceeded.

Example:
    >>> from ponder.budget import Budget, Usage
    >>> budget = Budget(tokens=1000, calls=4)
    >>> budget.remaining(Usage(tokens_in=300, tokens_out=200, calls=2)).tokens
    500
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from typing_extensions import NotRequired, TypedDict

from ponder.errors import ConfigurationError, Limit

__all__ = (
    "MAX_COUNT",
    "Budget",
    "BudgetLimits",
    "CallPlan",
    "Pricing",
    "Remaining",
    "Usage",
    "plan_call",
)

MAX_COUNT = 2**53
"""The largest token or call limit a `Budget` takes: a JSON number, a float and a signed
64-bit column all hold every whole number up to it exactly."""


class BudgetLimits(TypedDict):
    """A `Budget` as plain data, the form it takes in the graph state."""

    tokens: int | None
    """Most input plus output tokens the run may spend."""
    output_tokens: NotRequired[int | None]
    """Most output (generated) tokens the run may spend (absent in older runs: no limit)."""
    calls: int | None
    """Most model calls the run may make."""
    seconds: float | None
    """Most wall-clock seconds the run may take."""
    cost: float | None
    """Most money the run may spend, in the unit of `price_in`/`price_out`."""
    price_in: float
    """Price of one million input tokens."""
    price_out: float
    """Price of one million output tokens."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Pricing:
    """What a model charges, per million tokens (any currency, used consistently)."""

    input_per_million: float
    """Price of one million prompt tokens."""
    output_per_million: float
    """Price of one million generated tokens."""

    def __post_init__(self) -> None:
        for name in ("input_per_million", "output_per_million"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ConfigurationError(
                    f"Pricing.{name} must be a finite number >= 0, got {value!r}"
                )

    def cost(self, tokens_in: int, tokens_out: int) -> float:
        """Return the price of a call with these token counts."""
        return (tokens_in * self.input_per_million + tokens_out * self.output_per_million) / 1e6


@dataclass(frozen=True, kw_only=True, slots=True)
class Usage:
    """What a run has spent."""

    tokens_in: int = 0
    """Prompt tokens, as the model counted them."""
    tokens_out: int = 0
    """Generated tokens, as the model counted them."""
    calls: int = 0
    """Model calls started (failed ones included)."""
    seconds: float = 0.0
    """Wall-clock seconds since the run started."""
    cost: float = 0.0
    """Money spent, per the budget's `Pricing` (0 without one)."""
    model_seconds: float = 0.0
    """Seconds spent inside model calls (the rest is ponder's own overhead)."""

    @property
    def tokens(self) -> int:
        """Input plus output tokens."""
        return self.tokens_in + self.tokens_out

    @property
    def output_tokens(self) -> int:
        """Output tokens (the same as `tokens_out`, by the budget's name for them)."""
        return self.tokens_out

    def spent(self, name: Limit) -> float:
        """Return what was spent of the limit called ``name``."""
        return float(getattr(self, name))

    def plus(self, entry: LedgerLike) -> Usage:
        """Return this usage with one more call (a ledger entry) added."""
        return Usage(
            tokens_in=self.tokens_in + entry["tokens_in"],
            tokens_out=self.tokens_out + entry["tokens_out"],
            calls=self.calls + 1,
            seconds=self.seconds,
            cost=self.cost + entry["cost"],
            model_seconds=self.model_seconds + entry["latency_s"],
        )

    @classmethod
    def from_ledger(cls, entries: Iterable[LedgerLike], *, seconds: float = 0.0) -> Usage:
        """Sum a ledger into a `Usage`; ``seconds`` is the run's wall time so far."""
        tokens_in = tokens_out = calls = 0
        cost = model_seconds = 0.0
        for entry in entries:
            tokens_in += entry["tokens_in"]
            tokens_out += entry["tokens_out"]
            calls += 1
            cost += entry["cost"]
            model_seconds += entry["latency_s"]
        return cls(
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            calls=calls,
            seconds=seconds,
            cost=cost,
            model_seconds=model_seconds,
        )


class LedgerLike(TypedDict):
    """The fields of a ledger entry that budgeting reads."""

    tokens_in: int
    tokens_out: int
    cost: float
    latency_s: float


@dataclass(frozen=True, kw_only=True, slots=True)
class Remaining:
    """What is left of each limit; ``None`` where there is no limit."""

    tokens: int | None
    calls: int | None
    seconds: float | None
    cost: float | None
    output_tokens: int | None = None

    @property
    def exhausted(self) -> Limit | None:
        """The name of the first limit with nothing left, or ``None``."""
        if self.calls is not None and self.calls <= 0:
            return "calls"
        if self.tokens is not None and self.tokens <= 0:
            return "tokens"
        if self.output_tokens is not None and self.output_tokens <= 0:
            return "output_tokens"
        if self.seconds is not None and self.seconds <= 0:
            return "seconds"
        if self.cost is not None and self.cost <= 0:
            return "cost"
        return None


@dataclass(frozen=True, kw_only=True, slots=True)
class CallPlan:
    """The answer of `plan_call`: whether a call may start, and with what output cap."""

    max_tokens: int
    """The output cap to send (may be lowered to fit the budget); 0 when refused."""
    timeout: float | None
    """Seconds the call may take before it is cut off, or ``None`` for no limit."""
    refused_by: Limit | None
    """The limit that refuses the call, or ``None`` when the call may start."""

    @property
    def allowed(self) -> bool:
        """Whether the call may start."""
        return self.refused_by is None


@dataclass(frozen=True, kw_only=True, slots=True)
class Budget:
    """Limits on what a run may spend, in named units. ``None`` means no limit.

    Every limit is enforced before a call starts: a call is only made when its worst case fits
    what remains, so a finished run has never spent more than its limits (wall time is
    enforced by cutting a call off at the deadline).

    Example:
        >>> Budget(tokens=2000, calls=10).to_limits()["tokens"]
        2000
    """

    tokens: int | None = None
    """Most input plus output tokens, counted by the model's own tokenizer."""
    output_tokens: int | None = None
    """Most output (generated) tokens. On the embedded model a repeated prompt is read from
    its cache and costs almost nothing, so generated tokens are what a run really spends."""
    calls: int | None = None
    """Most model calls."""
    seconds: float | None = None
    """Most wall-clock seconds."""
    cost: float | None = None
    """Most money; needs `pricing`."""
    pricing: Pricing | None = None
    """What the model charges, to turn tokens into money."""

    def __post_init__(self) -> None:
        for name in ("tokens", "output_tokens", "calls"):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value <= 0
            ):
                raise ConfigurationError(
                    f"Budget.{name} must be a positive whole number, got {value!r}"
                )
            if value is not None and value > MAX_COUNT:
                raise ConfigurationError(
                    f"Budget.{name} must be at most {MAX_COUNT:,} (what every store and "
                    f"number format holds exactly), got {value:,}; leave it out for no limit"
                )
        for name in ("seconds", "cost"):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not math.isfinite(value)
                or value <= 0
            ):
                raise ConfigurationError(
                    f"Budget.{name} must be a positive finite number, got {value!r}"
                )
        if self.cost is not None and self.pricing is None:
            raise ConfigurationError("Budget.cost needs Budget.pricing to turn tokens into money")
        limits = ("tokens", "output_tokens", "calls", "seconds", "cost")
        if all(getattr(self, name) is None for name in limits):
            raise ConfigurationError(
                "a Budget needs at least one limit (tokens, output_tokens, calls, seconds or "
                "cost); ponder never runs unbounded"
            )

    def to_limits(self) -> BudgetLimits:
        """Return the budget as plain data for the graph state."""
        pricing = self.pricing
        return BudgetLimits(
            tokens=self.tokens,
            output_tokens=self.output_tokens,
            calls=self.calls,
            seconds=self.seconds,
            cost=self.cost,
            price_in=pricing.input_per_million if pricing else 0.0,
            price_out=pricing.output_per_million if pricing else 0.0,
        )

    @classmethod
    def from_limits(cls, limits: BudgetLimits | Mapping[str, Any] | Budget) -> Budget:
        """Rebuild a `Budget` from its plain-data form.

        Also takes a `Budget` (returned as it is) and a partial mapping, as a user's own
        graph may put in its state: ``{"tokens": 500}`` is ``Budget(tokens=500)``; a key
        left out is no limit (no price).

        Raises:
            ConfigurationError: An unknown key, or a value `Budget` refuses.
        """
        if isinstance(limits, Budget):
            return limits
        if not isinstance(limits, Mapping):
            raise ConfigurationError(
                f"a budget must be a Budget or a mapping such as {{'tokens': 500}}, got "
                f"{type(limits).__name__}"
            )
        unknown = sorted(set(limits) - set(BudgetLimits.__annotations__))
        if unknown:
            raise ConfigurationError(
                f"unknown budget key(s) {', '.join(map(repr, unknown))}; known: "
                f"{', '.join(BudgetLimits.__annotations__)}"
            )
        price_in, price_out = limits.get("price_in", 0.0), limits.get("price_out", 0.0)
        cost = limits.get("cost")
        priced = price_in or price_out or cost is not None
        return cls(
            tokens=limits.get("tokens"),
            output_tokens=limits.get("output_tokens"),
            calls=limits.get("calls"),
            seconds=limits.get("seconds"),
            cost=cost,
            pricing=Pricing(input_per_million=price_in, output_per_million=price_out)
            if priced
            else None,
        )

    def remaining(self, usage: Usage) -> Remaining:
        """Return what is left of each limit after ``usage``."""
        return Remaining(
            tokens=None if self.tokens is None else self.tokens - usage.tokens,
            output_tokens=None
            if self.output_tokens is None
            else self.output_tokens - usage.tokens_out,
            calls=None if self.calls is None else self.calls - usage.calls,
            seconds=None if self.seconds is None else self.seconds - usage.seconds,
            cost=None if self.cost is None else self.cost - usage.cost,
        )

    def tighter(self, other: Budget | None) -> Budget:
        """Return the budget whose every limit is the smaller of this one's and ``other``'s."""
        if other is None:
            return self

        def low(a: float | None, b: float | None) -> float | None:
            return b if a is None else a if b is None else min(a, b)

        return Budget(
            tokens=low(self.tokens, other.tokens),  # type: ignore[arg-type]
            output_tokens=low(self.output_tokens, other.output_tokens),  # type: ignore[arg-type]
            calls=low(self.calls, other.calls),  # type: ignore[arg-type]
            seconds=low(self.seconds, other.seconds),
            cost=low(self.cost, other.cost),
            pricing=self.pricing or other.pricing,
        )

    def share(self, usage: Usage, parts: int) -> list[Budget]:
        """Split what remains into ``parts`` budgets for branches that run in parallel.

        Tokens, calls and cost are what remains, divided (so the branches together can never
        overspend); a branch measures them from zero. Wall time is not divided, since parallel
        branches spend it together: each share keeps the whole ``seconds`` limit, measured
        against the run's total wall time as usual. Returns fewer budgets
        than ``parts`` when what remains cannot give each branch at least one call, and none
        when nothing remains.
        """
        left = self.remaining(usage)
        if parts < 1 or left.exhausted is not None:
            return []
        if left.calls is not None:
            parts = min(parts, left.calls)
        if left.tokens is not None:
            parts = min(parts, left.tokens)
        if left.output_tokens is not None:
            parts = min(parts, left.output_tokens)

        def part(value: float | None, whole: bool) -> float | None:
            if value is None:
                return None
            return value // parts if whole else value / parts

        return [
            Budget(
                tokens=part(left.tokens, True),  # type: ignore[arg-type]
                output_tokens=part(left.output_tokens, True),  # type: ignore[arg-type]
                calls=part(left.calls, True),  # type: ignore[arg-type]
                seconds=self.seconds,
                cost=part(left.cost, False),
                pricing=self.pricing,
            )
            for _ in range(parts)
        ]

    def limit(self, name: Limit) -> float | None:
        """Return the limit called ``name`` (``None`` for none)."""
        return float(getattr(self, name)) if getattr(self, name) is not None else None

    def call_cost(self, tokens_in: int, tokens_out: int) -> float:
        """Return the money a call with these token counts costs under this budget."""
        return self.pricing.cost(tokens_in, tokens_out) if self.pricing else 0.0


def _caps(budget: Budget, left: Remaining, prompt_tokens: int) -> dict[Limit, int] | None:
    """Return the output cap each limit leaves for a call with this prompt.

    ``None`` when the prompt alone costs more money than is left.
    """
    caps: dict[Limit, int] = {}
    if left.tokens is not None:
        caps["tokens"] = left.tokens - prompt_tokens
    if left.output_tokens is not None:
        caps["output_tokens"] = left.output_tokens
    if left.cost is not None and budget.pricing is not None:
        out_price = budget.pricing.output_per_million / 1e6
        in_cost = budget.pricing.cost(prompt_tokens, 0)
        if in_cost > left.cost:
            return None
        if out_price > 0:
            caps["cost"] = math.floor((left.cost - in_cost) / out_price)
    return caps


def plan_call(
    budget: Budget,
    usage: Usage,
    *,
    prompt_tokens: int,
    max_tokens: int,
    min_tokens: int,
    call_timeout: float | None,
    min_seconds: float = 0.0,
) -> CallPlan:
    """Decide whether a call fits the budget, lowering its output cap if needed.

    Args:
        budget: The run's limits.
        usage: What has been spent so far.
        prompt_tokens: An upper bound on the call's prompt tokens.
        max_tokens: The output cap the caller wants.
        min_tokens: The smallest output cap worth a call; below it the call is refused.
        call_timeout: The caller's own time limit for one call, if any.
        min_seconds: The least wall time worth starting a call with.

    Returns:
        The plan: the (possibly lowered) ``max_tokens`` and the time limit, or the limit that
        refuses the call.
    """
    left = budget.remaining(usage)

    def refuse(limit: Limit) -> CallPlan:
        return CallPlan(max_tokens=0, timeout=None, refused_by=limit)

    if left.calls is not None and left.calls < 1:
        return refuse("calls")
    caps = _caps(budget, left, prompt_tokens)
    if caps is None:
        return refuse("cost")
    least = min(min_tokens, max_tokens)
    for limit, cap in caps.items():
        if cap < least:
            return refuse(limit)
    cap = min([max_tokens, *caps.values()])
    timeout = call_timeout
    if left.seconds is not None:
        if left.seconds <= min_seconds:
            return refuse("seconds")
        timeout = left.seconds if timeout is None else min(timeout, left.seconds)
    return CallPlan(max_tokens=cap, timeout=timeout, refused_by=None)
