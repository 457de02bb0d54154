"""Both strategies end to end on the real embedded model, within their budgets."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import ponder
from ponder.graphs import StrategyName
from ponder.models import EmbeddedChatModel

pytestmark = pytest.mark.embedded

PROBLEMS = [("7 + 5 =", "12"), ("9 * 3 =", "27"), ("20 - 8 =", "12")]


@pytest.mark.parametrize(("problem", "expected"), PROBLEMS)
async def test_self_consistency_on_smollm2(
    smollm2: EmbeddedChatModel, problem: str, expected: str
) -> None:
    budget = ponder.Budget(tokens=1500)
    result = await ponder.asolve(problem, model=smollm2, budget=budget, max_samples=5)
    assert result.status == "done"
    samples = [c for c in result.candidates if c["kind"] == "attempt"]
    assert 1 <= len(samples) <= 5 and len(result.candidates) - len(samples) <= 4  # programs
    assert samples[0]["temperature"] == 0.0  # the default anchors on a greedy sample
    assert result.usage.tokens <= 1500
    assert sum(result.votes.values()) == sum(c["answer"] is not None for c in result.candidates)
    # Every call was charged with the usage the model reported.
    assert all(entry["usage_reported"] for entry in result.ledger)
    assert result.usage.tokens == sum(c["tokens_in"] + c["tokens_out"] for c in result.candidates)


async def test_the_answer_ranker_chooses_on_smollm2(smollm2: EmbeddedChatModel) -> None:
    """``select="ranked"`` on the real model: greedy first, confidences recorded, the answer
    the shipped ranker scores highest (its votes are probabilities)."""
    result = await ponder.asolve(
        "A shop sells 3 boxes of 12 pens and 5 loose pens. How many pens in all?",
        model=smollm2, budget={"tokens": 4000}, select="ranked", max_samples=5,
    )  # fmt: skip
    assert result.status == "done"
    samples = [c for c in result.candidates if c["kind"] == "attempt"]
    assert samples[0]["temperature"] == 0.0
    assert all(c.get("confidence") for c in samples)  # the ranker's confidence feature
    assert result.votes and all(0.0 < v < 1.0 for v in result.votes.values())
    assert result.answer == max(result.votes, key=lambda a: result.votes[a])
    assert result.usage.tokens <= 4000


@pytest.mark.parametrize(("problem", "expected"), PROBLEMS)
async def test_best_of_n_on_smollm2(
    smollm2: EmbeddedChatModel, problem: str, expected: str
) -> None:
    budget = ponder.Budget(tokens=2500)
    result = await ponder.asolve(
        problem,
        "best-of-n",
        model=smollm2,
        budget=budget,
        verifier=ponder.ExpectedAnswer(expected),
        n=6,
    )
    assert result.usage.tokens <= 2500
    # ... and it spends what it can: every call was charged as the model reported, and the
    # run ends only at an accepted candidate, at n candidates, or where the budget cannot
    # afford another (less left than a prompt plus RunContext.min_tokens, 32).
    assert 1 <= len(result.candidates) <= 6
    assert all(entry["usage_reported"] for entry in result.ledger)
    assert result.usage.tokens == sum(c["tokens_in"] + c["tokens_out"] for c in result.candidates)
    if result.stop_reason == "exhausted":
        assert len(result.candidates) == 6
    if result.stop_reason == "budget":
        assert 2500 - result.usage.tokens < result.candidates[-1]["tokens_in"] + 32
    accepted = [c for c in result.candidates if c["verdict"] == "accepted"]
    if accepted:
        assert result.answer == expected
        assert result.stop_reason == "verified"
        assert result.candidates[-1]["verdict"] == "accepted"  # it stopped right there
    else:
        assert result.stop_reason in ("exhausted", "budget")


async def test_a_tight_budget_is_never_exceeded_on_the_real_model(
    smollm2: EmbeddedChatModel,
) -> None:
    for tokens in (90, 200, 333):
        result = await ponder.asolve(
            "A shop sells 4 boxes of 6 pens. How many pens?",
            model=smollm2,
            budget=ponder.Budget(tokens=tokens),
            max_samples=8,
            agreement=1.0,
        )
        assert result.usage.tokens <= tokens
        assert result.stop_reason in ("budget", "decided", "exhausted")
        # ... and spends what it can: it stops for the budget only once less is left than
        # another sample needs (its prompt plus RunContext.min_tokens, 32), and a run that
        # drew nothing says the budget could not afford a single call.
        if not result.candidates:
            assert result.usage.calls == 0
            assert "cannot afford a single call" in result.errors[0]["message"]
        elif result.stop_reason == "budget":
            assert tokens - result.usage.tokens < result.candidates[-1]["tokens_in"] + 32


def test_cli_solve_json_on_the_embedded_model() -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "ponder.cli",
            "solve",
            "6 + 2 =",
            "--strategy",
            "best-of-n",
            "--expected",
            "8",
            "-n",
            "4",
            "--max-tokens",
            "1500",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["usage"]["tokens"] <= 1500
    assert data["candidates"] and data["usage"]["calls"] >= 1 and data["usage"]["tokens"] > 0
    assert data["strategy"] == "best-of-n"
    assert "c0" in out.stderr  # progress went to stderr


def test_cli_reports_bad_input_without_a_traceback() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "ponder.cli", "solve", "  ", "--max-tokens", "100"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 2
    assert "error: the problem is empty" in out.stderr
    assert "Traceback" not in out.stderr
    out = subprocess.run(
        [sys.executable, "-m", "ponder.cli", "solve", "q", "--max-tokens", "-3"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 2 and "positive whole number" in out.stderr


@pytest.mark.parametrize(
    ("strategy", "options"),
    [
        ("refine", {"max_rounds": 1, "max_tokens": 96, "critique_tokens": 64}),
        ("beam-search", {"beam_width": 1, "branching": 2, "max_depth": 2, "step_tokens": 40}),
        ("mcts", {"iterations": 2, "branching": 2, "max_depth": 2, "step_tokens": 40}),
        ("adaptive", {"max_tokens": 96, "tokens_per_difficulty": 2500, "min_allotment": 1200}),
    ],
)
async def test_every_strategy_runs_on_smollm2(
    smollm2: EmbeddedChatModel, strategy: StrategyName, options: dict[str, Any]
) -> None:
    budget = ponder.Budget(tokens=3000)
    result = await ponder.asolve(
        "Sara had 15 pencils and gave away 6. How many pencils does she have left?",
        strategy, model=smollm2, budget=budget, verifier=ponder.ExpectedAnswer("9"), **options,
    )  # fmt: skip
    assert result.status == "done", result.error
    assert result.candidates
    assert result.usage.tokens <= 3000
    assert all(entry["usage_reported"] for entry in result.ledger)
    ids = {c["id"] for c in result.candidates}
    assert all(c["parent_id"] in ids | {"root"} for c in result.candidates)
    if result.stop_reason == "verified":
        assert result.answer == "9"


async def test_program_aided_attempt_runs_model_code(smollm2: EmbeddedChatModel) -> None:
    result = await ponder.asolve(
        "A box holds 7 rows of 8 eggs. How many eggs are in the box?", "self-consistency",
        model=smollm2, prompt="program", max_samples=3, temperature=0.5,
    )  # fmt: skip
    programs = [c for c in result.candidates if c["kind"] == "program"]
    assert programs
    # Every program candidate either printed an answer or says why it has none.
    assert all(c["answer"] is not None or c["reason"] for c in programs)


def test_cli_pause_resume_and_remove_a_run(tmp_path: Path) -> None:
    db = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"

    def ponder_cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "ponder.cli", *args, "--db", db],
            capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip

    out = ponder_cli("solve", "7 + 5 =", "--max-tokens", "500", "-n", "8", "--run-id", "cli1",
                     "-O", "agreement=1.0", "--json")  # fmt: skip
    assert out.returncode == 0, out.stderr
    paused = json.loads(out.stdout)
    assert paused["status"] == "paused"
    assert paused["candidates"] and 0 < paused["usage"]["tokens"] <= 500
    listing = ponder_cli("runs")
    assert "cli1" in listing.stdout and "paused" in listing.stdout
    resumed = ponder_cli("resume", "cli1", "--add-tokens", "3000", "--json")
    assert resumed.returncode == 0, resumed.stderr
    data = json.loads(resumed.stdout)
    assert data["status"] == "done" and data["usage"]["tokens"] <= 3500
    # It paused for the budget, so its vote had not ended: resuming drew more samples.
    assert data["usage"]["tokens"] > paused["usage"]["tokens"]
    assert len(data["candidates"]) > len(paused["candidates"])
    assert "cli1" in ponder_cli("runs").stdout
    assert ponder_cli("rm", "cli1").returncode == 0
    assert "cli1" not in ponder_cli("runs").stdout


async def test_judge_and_difficulty_rating_nodes_on_smollm2(smollm2: EmbeddedChatModel) -> None:
    from langgraph.graph import END, START, StateGraph

    from ponder.context import RunContext
    from ponder.nodes.difficulty import difficulty_node
    from ponder.nodes.judge import judge_node
    from ponder.state import RunState

    drawn = await ponder.asolve("9 * 3 =", model=smollm2, max_samples=2, agreement=1.0, programs=0)
    graph = StateGraph(RunState, context_schema=RunContext)
    graph.add_node("rate", difficulty_node("rating"))
    graph.add_node("judge", judge_node())
    graph.add_edge(START, "rate")
    graph.add_edge("rate", "judge")
    graph.add_edge("judge", END)
    app: Any = graph.compile()
    out = await app.ainvoke(
        {"problem": "9 * 3 =", "budget": ponder.Budget(tokens=2000).to_limits(),
         "candidates": drawn.candidates, "ledger": drawn.ledger},
        context=RunContext(model=smollm2),
    )  # fmt: skip
    assert 0.0 <= out["difficulty"] <= 1.0
    assert len(out["ledger"]) == len(drawn.ledger) + 1 + len(drawn.candidates)
    for candidate in out["candidates"]:
        # A usable judgment is a score; an unusable one is recorded as such, never defaulted.
        assert (candidate["score"] is not None) or "unusable" in (candidate["reason"] or "")
