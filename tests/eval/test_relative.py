"""Greedy as the bench's reference: relative budgets, their resolution and resume, splits."""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import BaseMessage

from ponder.cli import main
from ponder.errors import ConfigurationError
from ponder.eval import (
    BenchConfig,
    BenchStore,
    ProblemResult,
    arun_bench,
    load_bench,
    paired_interval,
    split_of,
)
from ponder.eval.bench import REFERENCE_BUDGET, parse_budget, resolve_budgets
from ponder.eval.report import against_greedy_markdown, command_of, markdown, report_data
from ponder.models.embedded import EmbeddedChatModel
from ponder.testing import ScriptedChatModel

from .conftest import QUESTIONS


def words(text: str) -> list[int]:
    """The scripted model's tokenizer: a word is a token, as its usage counts them."""
    return list(range(len(text.split())))


class Killed(BaseException):
    """The process dying mid-bench (not an error the bench records)."""


def model(greedy: dict[str, str] | None = None, sampled: str = "5") -> ScriptedChatModel:
    """Greedy (temperature 0) answers from ``greedy`` by question start (else 5), sampled
    answers ``sampled``."""

    def reply(messages: list[BaseMessage], options: dict[str, Any]) -> str:
        answer = sampled
        if options.get("temperature") == 0.0:
            text = messages[-1].text
            answer = next((a for key, a in (greedy or {}).items() if text.startswith(key)), "5")
        return f"Counting carefully. The answer is {answer}."

    return ScriptedChatModel(reply_fn=reply, custom_get_token_ids=words)


def dying(
    monkeypatch: pytest.MonkeyPatch, when: Callable[[ProblemResult, int], bool]
) -> Callable[[], None]:
    """The bench process dies as it is about to store a result that ``when(result, before)``
    picks (``before``: the results it was about to store before this one), and stores
    nothing after; the function returned starts the next process."""
    store = BenchStore.put_result
    seen = {"count": 0, "dead": False}

    async def put_result(self: BenchStore, result: ProblemResult) -> None:
        before, seen["count"] = seen["count"], seen["count"] + 1
        if seen["dead"] or when(result, before):
            seen["dead"] = True
            raise Killed()
        await store(self, result)

    monkeypatch.setattr(BenchStore, "put_result", put_result)
    return lambda: monkeypatch.setattr(BenchStore, "put_result", store)


def test_budgets_parse_and_resolve() -> None:
    assert [parse_budget(t) for t in ("250", " 2x", "0.5X", "1.50x")] == [250, "2x", "0.5x", "1.5x"]
    for bad in ("x", "-1x", "0x", "two", "1e3", "2 x"):
        with pytest.raises(ConfigurationError, match="budgets are whole token counts"):
            parse_budget(bad)
    assert resolve_budgets(["1x", 700, "2.5x"], 100.2) == {"1x": 100, "2.5x": 250}
    assert resolve_budgets(["0.001x"], 10.0) == {"0.001x": 1}  # never below one token
    config = BenchConfig(dataset="arithmetic", strategies=("best-of-n",),
                         budgets=("4x", 900, "1x", "4.0x", 300))  # fmt: skip
    assert config.budgets == (300, 900, "1x", "4x") and config.relative == ("1x", "4x")
    assert config.strategies == ("greedy", "best-of-n")  # greedy is the unit: added
    plain = BenchConfig(dataset="arithmetic", strategies=("best-of-n",), budgets=(300,))
    assert plain.strategies == ("best-of-n",)


async def test_relative_budgets_are_multiples_of_greedys_mean_tokens(dataset: str, db: str) -> None:
    # (The scripted model's prompt count carries a margin: below 3x no sample fits.)
    config = BenchConfig(
        dataset=dataset, strategies=("self-consistency",), budgets=("3x", "4x", 500)
    )
    bench = await arun_bench(config, db=db, model=model(), progress=False)
    greedy = [r for r in bench.results if r.strategy == "greedy"]
    assert [(r.budget, r.calls, r.candidates) for r in greedy] == [(REFERENCE_BUDGET, 1, 1)] * 3
    mean = statistics.fmean(r.tokens for r in greedy)
    resolved = {"3x": round(3 * mean), "4x": round(4 * mean)}
    assert bench.config["resolved_budgets"] == resolved
    assert bench.config["greedy_mean_tokens"] == mean
    sampled = [r for r in bench.results if r.strategy == "self-consistency"]
    assert {r.budget for r in sampled} == {500, *resolved.values()} and len(sampled) == 9
    assert all(0 < r.tokens <= r.budget for r in sampled)
    data = report_data(bench)
    assert [(c["strategy"], c["budget_label"]) for c in data["cells"]] == [
        ("greedy", "1 call"), ("self-consistency", f"{resolved['3x']} (3x)"),
        ("self-consistency", f"{resolved['4x']} (4x)"), ("self-consistency", "500"),
    ]  # fmt: skip
    text = markdown(data)
    assert f"3x = {resolved['3x']} tokens, 4x = {resolved['4x']} tokens" in text
    assert "## Against greedy" in text and "| greedy | 1 call | 3 | 67% |" in text
    assert data["command"] == command_of(bench.config)
    assert "--strategies greedy,self-consistency --budgets 500,3x,4x" in data["command"]


async def test_a_resumed_bench_runs_the_budgets_it_resolved(
    dataset: str, db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = BenchConfig(dataset=dataset, strategies=("self-consistency",), budgets=("3x",))
    # Killed at its first sampled run: greedy has run on every problem, the rest has not.
    restart = dying(monkeypatch, lambda result, _before: result.strategy != "greedy")
    with pytest.raises(Killed):
        await arun_bench(config, db=db, model=model(), progress=False)
    restart()
    async with BenchStore.from_url(db) as store:
        (record,) = await store.list_benches()
        stored = await store.results(record.bench_id)
        assert {r.strategy for r in stored} == {"greedy"}
        resolved = record.config["resolved_budgets"]
        # Greedy's stored runs change (say a rerun of one): the bench keeps what it resolved.
        for result in stored:
            await store.put_result(type(result)(**{**vars_of(result), "tokens": 1}))
    bench = await arun_bench(config, db=db, model=model(), progress=False)
    assert bench.bench_id == record.bench_id and bench.config["resolved_budgets"] == resolved
    assert {r.budget for r in bench.results if r.strategy != "greedy"} == {resolved["3x"]}


async def test_a_bench_killed_during_greedy_resolves_as_an_uninterrupted_one(
    dataset: str, db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = BenchConfig(dataset=dataset, strategies=("self-consistency",), budgets=("3x", "5x"))
    restart = dying(monkeypatch, lambda _result, before: before == 1)
    with pytest.raises(Killed):  # one run at a time: the first is stored, then it dies
        await arun_bench(config, db=db, model=model(), progress=False, concurrency=1)
    restart()
    async with BenchStore.from_url(db) as store:
        (record,) = await store.list_benches()
        assert "resolved_budgets" not in record.config
        assert [r.strategy for r in await store.results(record.bench_id)] == ["greedy"]
    resumed = await arun_bench(config, db=db, model=model(), progress=False)
    whole = await arun_bench(
        config, db=f"sqlite+aiosqlite:///{tmp_path / 'whole.db'}", model=model(), progress=False
    )
    assert resumed.config["resolved_budgets"] == whole.config["resolved_budgets"]
    key = [(r.strategy, r.budget, r.problem_index, r.correct) for r in whole.results]
    assert [(r.strategy, r.budget, r.problem_index, r.correct) for r in resumed.results] == key


async def test_every_cell_against_greedy_on_the_same_problems(dataset: str, db: str) -> None:
    # Greedy is right on Ann and Cid (8), the samples (all 5) on Ann and Bob.
    greedy = {"Bob": "4", "Cid": "8"}
    config = BenchConfig(dataset=dataset, strategies=("greedy", "self-consistency"),
                         budgets=(900,))  # fmt: skip
    bench = await arun_bench(config, db=db, model=model(greedy), progress=False)
    cells = report_data(bench)["cells"]
    reference, sampled = cells
    assert (reference["strategy"], reference["accuracy"], reference["minus_greedy"]) == (
        "greedy", 2 / 3, None,
    )  # fmt: skip
    right = {r.problem_index: bool(r.correct) for r in bench.results if r.strategy == "greedy"}
    assert right == {0: True, 1: False, 2: True}
    mine = [bool(r.correct) for r in sorted(bench.results, key=lambda r: r.problem_index)
            if r.strategy == "self-consistency"]  # fmt: skip
    difference, low, high = paired_interval(mine, [right[i] for i in range(3)])
    assert sampled["minus_greedy"] == {
        "difference": difference, "ci95": [round(low, 3), round(high, 3)], "problems": 3,
    }  # fmt: skip
    # Self-consistency anchors on its greedy sample: no program agrees with another answer
    # here, so it gives greedy's answers, problem by problem.
    assert mine == [right[i] for i in range(3)] and (difference, low, high) == (0.0, 0.0, 0.0)
    table = against_greedy_markdown([bench])
    assert "| self-consistency | 900 | 3 | 67% | 21%-94% | +0.0 [+0.0, +0.0] |" in table
    assert against_greedy_markdown([]) == ""


def vars_of(result: Any) -> dict[str, Any]:
    return {name: getattr(result, name) for name in result.__dataclass_fields__}


@pytest.fixture
def many(tmp_path: Path) -> str:
    path = tmp_path / "many.jsonl"
    path.write_text("".join(
        json.dumps({"question": f"Dan has {i} pens. How many pens?", "answer": i}) + "\n"
        for i in range(20)
    ))  # fmt: skip
    return str(path)


async def test_the_split_is_part_of_the_bench(many: str, db: str) -> None:
    whole = BenchConfig(dataset=many, strategies=("self-consistency",), budgets=(900,))
    assert "split" not in whole.to_dict()  # so benches of a whole dataset keep their ids
    assert set(whole.to_dict()) == {
        "dataset", "strategies", "budgets", "limit", "model", "seed", "question_field",
        "answer_field", "scorer",
    }  # fmt: skip
    config = BenchConfig(dataset=many, strategies=("greedy",), budgets=(900,), split="report",
                         limit=3)  # fmt: skip
    bench = await arun_bench(config, db=db, model=model(), progress=False)
    problems = [json.loads(line) for line in Path(many).read_text().splitlines()]
    report = [p["question"] for p in problems if split_of(p["question"]) == "report"]
    assert bench.config["split"] == "report" and bench.config["problems"] == 3
    asked = [r.problem_id for r in bench.results]
    assert asked == [f"line {1 + [p['question'] for p in problems].index(q)}" for q in report[:3]]
    tune = await arun_bench(
        BenchConfig(dataset=many, strategies=("greedy",), budgets=(900,), split="tune", limit=3),
        db=db, model=model(), progress=False,
    )  # fmt: skip
    assert tune.bench_id != bench.bench_id
    assert not {r.problem_id for r in tune.results} & set(asked)
    assert "--split report --limit 3" in command_of(bench.config)
    assert "report split, 3 problems" in markdown(report_data(bench))
    with pytest.raises(ConfigurationError, match="unknown split 'test'"):
        BenchConfig(dataset=many, split="test")  # type: ignore[arg-type]


def test_one_command_benches_several_datasets_against_greedy(
    dataset: str, many: str, db: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    scripted = model()
    monkeypatch.setattr(EmbeddedChatModel, "from_name", lambda *a, **k: scripted)
    out = tmp_path / "reports"
    argv = [
        "bench",
        "--dataset",
        f"{dataset},{many}",
        "-s",
        "self-consistency",
        "-b",
        "1x,2x",
        "--split",
        "report",
        "--db",
        db,
        "-o",
        str(out),
        "--no-plot",
        "-q",
    ]
    assert main(argv) == 0  # fmt: skip
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert lines[0].startswith("| dataset | strategy | budget | problems | accuracy |")
    names = [Path(dataset).name, Path(many).name]
    for name in names:
        assert (out / name.removesuffix(".jsonl") / "report.md").exists()
    rows = [line for line in lines[2:]]
    assert [row.split(" | ")[1:3] for row in rows][:1] == [["greedy", "1 call"]]
    assert len(rows) == 2 * 3 and all("(report) |" in row.split(" | ")[0] + " |" for row in rows)
    assert captured.err.count("wrote ") == 2
    benches = [load_bench(b["bench_id"], db=db) for b in _listed(db, capsys)]
    assert {b.config["split"] for b in benches} == {"report"}
    # Side by side, a relative budget's rows line up by name, whatever its tokens in each.
    assert main(["bench", "--compare", *(b.bench_id for b in benches), "--db", db]) == 0
    compared = capsys.readouterr().out
    assert "| greedy | 1 call |" in compared and "| self-consistency | 2x |" in compared
    assert "vs greedy" in compared
    assert main([*argv[:3], "--id", "mine", "--db", db]) == 2
    assert "--id names one bench" in capsys.readouterr().err
    assert main(["bench", "--dataset", dataset, "-b", "2x,lots", "--db", db]) == 2
    assert "budgets are whole token counts" in capsys.readouterr().err


def _listed(db: str, capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    assert main(["bench", "--list", "--db", db, "--json"]) == 0
    listed: list[dict[str, Any]] = json.loads(capsys.readouterr().out)
    return listed


def test_the_questions_fixture_has_both_splits() -> None:
    # The three-problem file above runs whole in most tests; it has problems of both splits.
    assert {split_of(q) for q in QUESTIONS} == {"tune", "report"}
