from __future__ import annotations

import math
from typing import Any

import pytest

from ponder.budget import Budget, Pricing, Usage, plan_call
from ponder.errors import ConfigurationError
from ponder.graphs import StrategyName


@pytest.mark.parametrize(
    "kwargs",
    [
        {"tokens": -5},
        {"tokens": 0},
        {"tokens": 1.5},
        {"tokens": True},
        {"calls": 0},
        {"seconds": math.nan},
        {"seconds": -1.0},
        {"seconds": math.inf},
        {"cost": 1.0},  # no pricing
        {},  # no limit at all
    ],
)
def test_invalid_budgets_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError):
        Budget(**kwargs)  # type: ignore[arg-type]


def test_invalid_pricing_is_refused() -> None:
    with pytest.raises(ConfigurationError):
        Pricing(input_per_million=-1, output_per_million=1)


def test_limits_round_trip() -> None:
    budget = Budget(
        tokens=100,
        calls=3,
        seconds=2.5,
        cost=0.5,
        pricing=Pricing(input_per_million=1.0, output_per_million=2.0),
    )
    assert Budget.from_limits(budget.to_limits()) == budget
    assert Budget.from_limits(Budget(tokens=7).to_limits()) == Budget(tokens=7)


def test_remaining_and_exhausted() -> None:
    budget = Budget(tokens=100, calls=2)
    left = budget.remaining(Usage(tokens_in=60, tokens_out=40, calls=1))
    assert left.tokens == 0
    assert left.calls == 1
    assert left.exhausted == "tokens"


def test_plan_call_fits_or_lowers_or_refuses() -> None:
    budget = Budget(tokens=300)
    fits = plan_call(
        budget, Usage(), prompt_tokens=50, max_tokens=200, min_tokens=32, call_timeout=None
    )
    assert fits.allowed and fits.max_tokens == 200
    lowered = plan_call(
        budget,
        Usage(tokens_in=150),
        prompt_tokens=50,
        max_tokens=200,
        min_tokens=32,
        call_timeout=None,
    )
    assert lowered.allowed and lowered.max_tokens == 100
    refused = plan_call(
        budget,
        Usage(tokens_in=230),
        prompt_tokens=50,
        max_tokens=200,
        min_tokens=32,
        call_timeout=None,
    )
    assert refused.refused_by == "tokens"


def test_plan_call_respects_calls_cost_and_seconds() -> None:
    assert (
        plan_call(
            Budget(calls=1),
            Usage(calls=1),
            prompt_tokens=1,
            max_tokens=10,
            min_tokens=1,
            call_timeout=None,
        ).refused_by
        == "calls"
    )
    priced = Budget(cost=1.0, pricing=Pricing(input_per_million=1e5, output_per_million=1e5))
    plan = plan_call(
        priced, Usage(), prompt_tokens=5, max_tokens=100, min_tokens=1, call_timeout=None
    )
    # 1.0 money at 0.1 per token: 10 tokens in all, 5 of them the prompt.
    assert plan.allowed and plan.max_tokens == 5
    timed = plan_call(
        Budget(seconds=3.0),
        Usage(seconds=1.0),
        prompt_tokens=1,
        max_tokens=10,
        min_tokens=1,
        call_timeout=60.0,
    )
    assert timed.timeout == pytest.approx(2.0)
    assert (
        plan_call(
            Budget(seconds=3.0),
            Usage(seconds=3.5),
            prompt_tokens=1,
            max_tokens=10,
            min_tokens=1,
            call_timeout=None,
        ).refused_by
        == "seconds"
    )


def test_usage_from_ledger_sums_calls() -> None:
    entries = [
        {"tokens_in": 10, "tokens_out": 5, "cost": 0.1, "latency_s": 1.0},
        {"tokens_in": 20, "tokens_out": 7, "cost": 0.2, "latency_s": 2.0},
    ]
    usage = Usage.from_ledger(entries, seconds=4.0)  # type: ignore[arg-type]
    assert (usage.tokens, usage.calls, usage.model_seconds) == (42, 2, 3.0)
    assert usage.cost == pytest.approx(0.3)


def test_an_output_token_budget_caps_generated_tokens_only() -> None:
    budget = Budget(output_tokens=100)
    plan = plan_call(budget, Usage(tokens_in=5000, tokens_out=60), prompt_tokens=900,
                     max_tokens=256, min_tokens=32, call_timeout=None)  # fmt: skip
    assert (plan.max_tokens, plan.refused_by) == (40, None)  # prompts do not count
    refused = plan_call(budget, Usage(tokens_out=80), prompt_tokens=10, max_tokens=256,
                        min_tokens=32, call_timeout=None)  # fmt: skip
    assert refused.refused_by == "output_tokens"
    assert Budget.from_limits(budget.to_limits()) == budget
    old = {**Budget(tokens=9).to_limits()}
    del old["output_tokens"]  # a run stored before the limit existed
    assert Budget.from_limits(old).output_tokens is None
    shares = budget.share(Usage(tokens_out=40), 3)
    assert [s.output_tokens for s in shares] == [20, 20, 20]


async def test_a_run_under_an_output_token_budget_never_exceeds_it() -> None:
    import ponder
    from ponder.testing import ScriptedChatModel

    model = ScriptedChatModel(replies=["The answer is 4. " + "x " * 60])
    result = await ponder.asolve("q", model=model, budget=Budget(output_tokens=150),
                                 max_samples=10, agreement=1.0, max_tokens=64)  # fmt: skip
    assert 0 < result.usage.tokens_out <= 150
    assert result.stop_reason == "budget" and result.usage.tokens > 150  # prompts are free


def test_from_limits_takes_partial_mappings_and_budgets() -> None:
    assert Budget.from_limits({"tokens": 500}) == Budget(tokens=500)
    assert Budget.from_limits({"calls": 3, "seconds": 2.5}) == Budget(calls=3, seconds=2.5)
    priced = Budget.from_limits({"cost": 1.0, "price_in": 2.0})
    assert priced.cost == 1.0 and priced.pricing is not None
    budget = Budget(tokens=9, calls=2)
    assert Budget.from_limits(budget) is budget
    with pytest.raises(ConfigurationError, match="unknown budget key"):
        Budget.from_limits({"token": 500})
    with pytest.raises(ConfigurationError, match="positive whole number"):
        Budget.from_limits({"tokens": -1})
    with pytest.raises(ConfigurationError, match="must be a Budget or a mapping"):
        Budget.from_limits(500)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "strategy", ["greedy", "self-consistency", "adaptive", "refine", "beam-search", "mcts"]
)
async def test_a_budget_near_greedys_spend_still_buys_the_first_answer(
    strategy: StrategyName,
) -> None:
    # The prompt plus 10 output tokens: less than RunContext.min_tokens (32) of room, which
    # refuses a later call, but not a run's first (with no answer yet, any answer beats none).
    import ponder
    from ponder.context import RunContext
    from ponder.testing import ScriptedChatModel

    prompts: list[Any] = []

    def reply(messages: Any, kwargs: Any) -> str:
        prompts.append(messages)
        return "Some work. The answer is 7."

    model = ScriptedChatModel(reply_fn=reply)
    await ponder.asolve("What is 3 + 4?", model=model, strategy="greedy")
    bound = RunContext(model=model).traits.prompt_tokens(prompts[0])
    model = ScriptedChatModel(reply_fn=reply)
    result = await ponder.asolve(
        "What is 3 + 4?", model=model, strategy=strategy, budget=Budget(tokens=bound + 10)
    )
    assert result.answer == "7"
    assert model.calls[0]["max_tokens"] <= 10 or strategy in ("beam-search", "mcts")
    assert result.usage.tokens <= bound + 10
    assert all(call["max_tokens"] >= 1 for call in model.calls)


async def test_a_fan_out_branch_is_not_a_first_call() -> None:
    # Adaptive's attempts phase fans out after its probes; each branch plans within its share
    # of what is left, with RunContext.min_tokens, never the first call's allowance.
    from ponder.context import RunContext
    from ponder.nodes.metered import Meter

    context = RunContext(model=_scripted_model())
    state = {"problem": "q", "budget": Budget(tokens=1000).to_limits(), "ledger": []}
    assert Meter(state, context, node="n").opens
    share = Meter(state, context, node="n", budget=Budget(tokens=100), usage=Usage())
    assert not share.opens
    assert Meter(state, context, node="n", budget=Budget(tokens=100), usage=Usage(),
                 opens=True).opens  # fmt: skip
    plan = context.plan(Budget(tokens=100), Usage(), prompt_tokens=90, max_tokens=64)
    assert plan.refused_by == "tokens"  # 10 tokens of room: below min_tokens
    first = context.plan(Budget(tokens=100), Usage(), prompt_tokens=90, max_tokens=64, first=True)
    assert first.allowed and first.max_tokens == 10
    strict = RunContext(model=_scripted_model(), first_min_tokens=32)
    assert not strict.plan(
        Budget(tokens=100), Usage(), prompt_tokens=90, max_tokens=64, first=True
    ).allowed


def _scripted_model() -> Any:
    from ponder.testing import ScriptedChatModel

    return ScriptedChatModel(replies=["The answer is 7."])
