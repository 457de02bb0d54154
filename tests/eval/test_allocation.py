"""Fitting the adaptive strategy's allocation policy on stored pools (scripted data)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ponder.errors import ConfigurationError
from ponder.eval.allocation import (
    ACTIONS,
    acomplete_pool,
    adraw_pool,
    fit_policy,
    held_in,
    play,
    simulate,
)
from ponder.eval.datasets import load_dataset
from ponder.nodes.plan import Action, AllocationPolicy, bin_of
from ponder.testing import ScriptedChatModel


def draw(answer: str | None, right: bool, tokens: int = 10, lp: float = -0.5) -> dict[str, Any]:
    return {"answer": answer, "correct": right, "tokens_in": 100, "tokens_out": tokens,
            "confidence": {"mean_logprob": lp}}  # fmt: skip


def row(greedy: str, samples: list[str], programs: list[str | None], expected: str) -> Any:
    return {
        "dataset": "toy", "id": f"{greedy}{''.join(samples)}", "split": "tune",
        "greedy": draw(greedy, greedy == expected),
        "samples": [draw(a, a == expected) for a in samples],
        "programs": [draw(a, a == expected) for a in programs],
    }  # fmt: skip


def test_simulate_pays_the_probes_and_programs_only_when_they_could_move_the_answer() -> None:
    agreed = row("7", ["7"] * 8, ["9"] * 4, "7")
    greedy = simulate(agreed, Action(samples=1, select="anchored"))
    assert greedy.right and greedy.tokens == 3 * 110  # the three probes
    anchored = simulate(agreed, Action(samples=5, programs=4, select="anchored"))
    assert anchored.right and anchored.tokens == 5 * 110  # they agree: no program drawn
    split = row("8", ["7", "8", "7", "7", "7", "7", "7", "7"], ["7"] * 4, "7")
    moved = simulate(split, Action(samples=5, programs=4, select="anchored"))
    assert moved.right and moved.tokens == 9 * 110
    assert not simulate(split, Action(samples=5, select="anchored")).right  # greedy's 8
    assert simulate(split, Action(samples=5, select="majority")).right
    words = row("no", ["yes"] * 8, ["yes"] * 4, "yes")  # not a number: programs no evidence
    assert simulate(words, Action(samples=5, programs=4, select="anchored")).tokens == 5 * 110


def test_the_fit_spends_where_it_pays() -> None:
    # Agreed problems: greedy is right, more samples add nothing. Split ones: the majority
    # of nine is right and greedy is wrong.
    easy = [row("7", ["7"] * 8, [], "7") for _ in range(6)]
    hard = [row("8", ["7", "9", "7", "7", "8", "7", "7", "7"], [], "7") for _ in range(6)]
    policy, curve = fit_policy(easy + hard, max_ratio=100.0)
    assert policy.bins["3/3"].samples <= 3
    hard_probes = [{"kind": "probe", "answer": a, "temperature": t}
                   for a, t in (("8", 0.0), ("7", 0.7), ("9", 0.7))]  # fmt: skip
    spent = policy.action_for(hard_probes)
    assert spent.samples >= 3 and spent.select != "anchored"  # more than greedy's answer
    assert all(play(policy, r).right for r in easy + hard)
    assert curve[0]["accuracy"] == 1.0 and curve[-1]["tokens"] <= curve[0]["tokens"]
    # Within greedy's own tokens only the probes' answers are affordable.
    cheap, _ = fit_policy(easy + hard, max_ratio=3.0)
    assert all(action.samples <= 3 for action in cheap.bins.values())
    with pytest.raises(ValueError, match="at least one"):
        fit_policy([])


def test_bins_fall_back_without_confidence_and_the_policy_round_trips(tmp_path: Path) -> None:
    probes = [{"kind": "probe", "answer": "4", "temperature": 0.0, "confidence": None},
              {"kind": "probe", "answer": "4", "temperature": 0.7}]  # fmt: skip
    assert bin_of(probes, -0.3) == "2/2"
    policy = AllocationPolicy(
        threshold=-0.3, bins={"2/2": Action(samples=1, select="anchored"), "*": ACTIONS[-1]}
    )
    assert policy.action_for(probes) == Action(samples=1, select="anchored")
    assert policy.action_for([{**probes[0], "answer": None}]) == ACTIONS[-1]
    policy.dump(tmp_path / "p.json")
    assert AllocationPolicy.load(tmp_path / "p.json") == policy
    with pytest.raises(ConfigurationError, match="select must be one of"):
        Action(samples=2, select="best_score")


async def test_a_pool_is_drawn_scored_and_resumed(tmp_path: Path) -> None:
    model = ScriptedChatModel(
        reply_fn=lambda m, k: "```python\nprint(2 + 2)\n```"
        if "Python program" in m[0].text
        else f"The answer is {4 + k.get('seed', 0) % 2}."
    )  # fmt: skip
    problems = [(part, p) for part, p in held_in(load_dataset("arithmetic").problems, 1)]
    rows = await adraw_pool(model, problems, dataset="arithmetic", samples=3, programs=2)
    assert sorted(r["split"] for r in rows) == ["report", "tune"]
    first = rows[0]
    assert first["greedy"]["answer"] == "4" and len(first["samples"]) == 3
    assert [p["answer"] for p in first["programs"]] == ["4", "4"]
    assert first["greedy"]["tokens_in"] > 0
    store = tmp_path / "pool.json"
    again = await acomplete_pool(model, ["arithmetic"], store, per_split=1)
    calls = len(model.calls)
    assert len(again) == 2 and json.loads(store.read_text()) == again
    assert len(await acomplete_pool(model, ["arithmetic"], store, per_split=1)) == 2
    assert len(model.calls) == calls  # nothing drawn twice
    store.write_text("{broken")
    with pytest.raises(ConfigurationError, match="cannot read the pool"):
        await acomplete_pool(model, ["arithmetic"], store, per_split=1)
