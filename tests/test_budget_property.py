"""Property: whatever the budget, strategy and model replies, no limit is ever exceeded."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain_core.messages import AIMessage, BaseMessage
from pydantic import Field

import ponder
from ponder.budget import Pricing
from ponder.errors import ConfigurationError
from ponder.graphs import StrategyName
from ponder.testing import ScriptedChatModel


class RecordingModel(ScriptedChatModel):
    """A scripted model that also keeps the usage it reports, one total per reply."""

    reported: list[int] = Field(default_factory=list)

    def _result(self, messages: list[BaseMessage], reply: Any, kwargs: dict[str, Any]) -> Any:
        result = super()._result(messages, reply, kwargs)
        message = result.generations[0].message
        assert isinstance(message, AIMessage) and message.usage_metadata is not None
        self.reported.append(message.usage_metadata["total_tokens"])
        return result


replies = st.lists(
    st.builds(
        lambda words, answer: " ".join(["step"] * words) + f" The answer is {answer}.",
        st.integers(0, 120),
        st.integers(0, 3),
    ),
    min_size=1,
    max_size=6,
)
budgets: st.SearchStrategy[dict[str, Any]] = st.builds(
    dict,
    tokens=st.none() | st.integers(1, 2500),
    calls=st.none() | st.integers(1, 12),
    cost=st.none() | st.floats(1e-4, 0.05),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    limits=budgets,
    script=replies,
    strategy=st.sampled_from(
        ["self-consistency", "best-of-n", "refine", "beam-search", "mcts", "adaptive"]
    ),
    max_tokens=st.integers(1, 300),
    n=st.integers(1, 10),
)
def test_spent_never_exceeds_the_limit(
    limits: dict[str, float | int | None],
    script: list[str],
    strategy: StrategyName,
    max_tokens: int,
    n: int,
) -> None:
    pricing = Pricing(input_per_million=2.0, output_per_million=8.0)
    try:
        budget = ponder.Budget(
            tokens=limits["tokens"],  # type: ignore[arg-type]
            calls=limits["calls"],  # type: ignore[arg-type]
            cost=limits["cost"],
            pricing=pricing if limits["cost"] is not None else None,
        )
    except ConfigurationError:
        return  # no limit at all: refused up front, nothing to spend
    model = RecordingModel(replies=script)
    table: dict[str, dict[str, Any]] = {
        "self-consistency": {"max_samples": n, "agreement": 1.0, "max_tokens": max_tokens},
        "best-of-n": {"n": n, "max_tokens": max_tokens},
        "refine": {"max_rounds": n, "max_tokens": max_tokens},
        "beam-search": {"beam_width": 1 + n % 3, "step_tokens": max_tokens},
        "mcts": {"iterations": n, "step_tokens": max_tokens},
        "adaptive": {"max_tokens": max_tokens},
    }
    options = table[strategy]
    result = ponder.solve(
        "A farmer has 3 cows and buys 2 more. How many cows?",
        strategy,
        budget=budget,
        model=model,
        verifier=ponder.ExpectedAnswer("5"),
        **options,
    )
    usage = result.usage
    if budget.tokens is not None:
        assert usage.tokens <= budget.tokens
    if budget.calls is not None:
        assert usage.calls <= budget.calls
    if budget.cost is not None:
        assert usage.cost <= budget.cost + 1e-12
    assert usage.calls == len(model.calls)
    # And nothing spent goes uncharged: the run was charged exactly what the model reported
    # (it always reports, and honours the cap); a run that called nothing did so because the
    # budget could not afford its first call, and says so.
    assert len(model.reported) == usage.calls
    assert usage.tokens == sum(model.reported)
    if usage.calls == 0:
        assert result.candidates == []
        assert result.stop_reason == "budget" or any(
            "cannot afford a single call" in error["message"] for error in result.errors
        )
