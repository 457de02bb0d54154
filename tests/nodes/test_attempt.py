from __future__ import annotations

from typing import Any

import pytest

from ponder.budget import Budget
from ponder.context import RunContext
from ponder.nodes import AttemptTask, attempt_branch_node, attempt_node, fan_out_attempts
from ponder.prompts import ATTEMPT_PROMPTS, PROGRAM
from ponder.testing import ScriptedChatModel
from tests.nodes.helpers import run_node, runtime


async def test_fan_out_splits_the_budget_between_branches() -> None:
    prompts = [ATTEMPT_PROMPTS["few_shot"], ATTEMPT_PROMPTS["step_by_step"], PROGRAM]
    model = ScriptedChatModel(replies=["The answer is 7."])
    context = RunContext(model=model)
    state: Any = {"problem": "3 + 4 =", "budget": Budget(tokens=3000, calls=2).to_limits()}

    sends = fan_out_attempts(prompts)(state, runtime(context))
    assert len(sends) == 2  # two calls left: only two branches
    tasks: list[AttemptTask] = [send.arg for send in sends]
    assert [t["index"] for t in tasks] == [0, 1]
    assert all(t["allowance"]["calls"] == 1 for t in tasks)
    assert sum(t["allowance"]["tokens"] or 0 for t in tasks) <= 3000
    branch = attempt_branch_node({p.name: p for p in prompts}, temperature=0.5, max_tokens=50)
    update = await branch(tasks[0], runtime=runtime(context))
    assert update["candidates"][0]["id"] == "c0"


async def test_attempts_take_prompts_by_name_and_seeds_by_index() -> None:
    node = attempt_node(prompt="step_by_step", temperature=0.5, max_tokens=40, per_step=2,
                        max_candidates=5)  # fmt: skip
    model = ScriptedChatModel(replies=["The answer is 7."])
    out = await run_node(node, {}, model, seed=10)
    assert [(c["id"], c["prompt"], c["seed"]) for c in out["candidates"]] == [
        ("c0", "step_by_step", 10), ("c1", "step_by_step", 11),
    ]  # fmt: skip
    assert [call["seed"] for call in model.calls] == [10, 11]


def test_an_unknown_prompt_name_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="few_shot"):
        attempt_node(prompt="nope", temperature=0.5, max_tokens=40, max_candidates=1)  # type: ignore[arg-type]
