from __future__ import annotations

import ponder
from ponder.budget import Budget
from ponder.graphs import AdaptiveConfig
from ponder.nodes import plan_node
from ponder.testing import ScriptedChatModel
from tests.nodes.helpers import run_node


def test_plan_scales_with_difficulty_and_caps_at_the_budget() -> None:
    config = AdaptiveConfig()
    policy = config.policy
    easy = policy.plan(0.0, Budget(tokens=100_000), 0)
    hard = policy.plan(1.0, Budget(tokens=100_000), 0)
    assert easy["allotment"] == config.min_allotment and easy["phases"] == ["attempts"]
    assert hard["allotment"] == config.tokens_per_difficulty
    assert hard["phases"] == ["attempts", "refine", "search"]
    capped = policy.plan(1.0, Budget(tokens=3000), 1000)
    assert capped["allotment"] == 2000 and capped["phases"] == ["attempts", "refine"]
    # The default budget (4,000 tokens) affords every phase on a hard problem.
    default = policy.plan(1.0, ponder.DEFAULT_BUDGET, 400)
    assert default["phases"] == ["attempts", "refine", "search"]


async def test_the_plan_node_sets_the_phase_limit() -> None:
    node = plan_node(AdaptiveConfig(tokens_per_difficulty=1000, min_allotment=100).policy)
    out = await run_node(node, {"difficulty": 0.5}, ScriptedChatModel(replies=["x"]))
    assert out["plan"]["allotment"] == 500
    assert out["phase_limit"]["tokens"] == 500
