from __future__ import annotations

import asyncio
import contextlib
import io
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.callbacks import AsyncCallbackManagerForLLMRun
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatResult

from ponder.cli import main
from ponder.errors import ConfigurationError
from ponder.eval import (
    SCORERS,
    BenchConfig,
    Scorer,
    aload_bench,
    arun_bench,
    load_bench,
    load_dataset,
    run_bench,
    write_report,
)
from ponder.eval.report import compare_markdown, markdown, report_data
from ponder.eval.store import BenchStore
from ponder.models.embedded import EmbeddedChatModel
from ponder.testing import ScriptedChatModel
from ponder.verify.extract import extract_number
from tests.persistence.conftest import PG_URL, drop_schemas, new_schema_name

from .conftest import replying

STRATEGIES = ("self-consistency", "best-of-n")
BUDGETS = (700, 1400)


def scripted(**answers: str | Exception) -> ScriptedChatModel:
    by_name = {"Ann has": "5", "Bob has": "5", "Cid has": "5"}
    by_name.update({f"{key} has": value for key, value in answers.items()})  # type: ignore[misc]
    return ScriptedChatModel(reply_fn=replying(by_name))  # type: ignore[arg-type]


async def test_bench_runs_every_cell_and_stores_it(dataset: str, db: str) -> None:
    model = scripted()
    stream = io.StringIO()
    config = BenchConfig(dataset=dataset, strategies=STRATEGIES, budgets=BUDGETS)
    bench = await arun_bench(config, db=db, model=model, progress=stream)
    assert len(bench.results) == 3 * 2 * 2
    assert {(r.strategy, r.verifier) for r in bench.results} == {
        ("self-consistency", "none"), ("best-of-n", "oracle"),
    }  # fmt: skip
    by_problem = {r.problem_index: r for r in bench.results if r.strategy == "self-consistency"}
    assert [by_problem[i].correct for i in range(3)] == [True, True, False]  # Cid's is 8
    assert all(r.status == "done" and r.tokens > 0 and r.calls > 0 for r in bench.results)
    assert all(r.tokens <= r.budget for r in bench.results)
    assert bench.config["scorer"] == "number" and bench.config["problems"] == 3
    line = stream.getvalue()
    assert f"bench {bench.bench_id}" in line and "12/12 runs" in line and "accuracy 67%" in line
    assert (await arun_bench(config, db=db, model=model, progress=False)).results == bench.results


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


async def test_progress_redraws_one_line_on_a_terminal_only(dataset: str, db: str) -> None:
    piped = io.StringIO()
    config = BenchConfig(dataset=dataset, strategies=STRATEGIES, budgets=BUDGETS)
    await arun_bench(config, db=db, model=scripted(), progress=piped)
    lines = piped.getvalue().split("\n")
    assert "\r" not in piped.getvalue() and lines[-1] == ""  # whole lines, nothing redrawn
    assert [line.split()[3] for line in lines[:-1]] == ["2/12", "4/12", "6/12", "8/12",
                                                        "10/12", "12/12"]  # fmt: skip
    terminal = _Terminal()
    config = BenchConfig(dataset=dataset, strategies=STRATEGIES, budgets=(800,))
    await arun_bench(config, db=db, model=scripted(), progress=terminal)
    drawn = terminal.getvalue()
    assert drawn.count("\r") == 6 and drawn.count("\n") == 1 and drawn.endswith("\n")
    assert "6/6 runs" in drawn.split("\r")[-1]


async def test_running_again_resumes_and_runs_nothing_done(dataset: str, db: str) -> None:
    config = BenchConfig(dataset=dataset, strategies=STRATEGIES, budgets=BUDGETS)
    first = await arun_bench(config, db=db, model=scripted(), progress=False)
    again = scripted()
    second = await arun_bench(config, db=db, model=again, progress=False)
    assert again.calls == [] and second.results == first.results
    more = BenchConfig(dataset=dataset, strategies=STRATEGIES, budgets=(*BUDGETS, 2000))
    third = await arun_bench(more, db=db, model=scripted(), progress=False)
    assert third.bench_id != first.bench_id and len(third.results) == 18


async def test_results_carry_the_flops_estimate_and_old_ones_still_load(
    dataset: str, db: str
) -> None:
    sized = scripted().model_copy(update={"parameters": 1_000})
    config = BenchConfig(dataset=dataset, strategies=("self-consistency",), budgets=(700,))
    bench = await arun_bench(config, db=db, model=sized, progress=False)
    assert all(r.flops == 2 * 1_000 * r.tokens for r in bench.results)
    [cell] = report_data(await aload_bench(bench.bench_id, db=db))["cells"]
    assert cell["mean_flops"] == 2 * 1_000 * cell["mean_tokens"]
    # A bench table made before the FLOPs column: opening it adds the column, its rows
    # load with no estimate, and new rows store theirs.
    connection = sqlite3.connect(db.removeprefix("sqlite+aiosqlite:///"))
    with contextlib.closing(connection), connection:
        connection.execute("ALTER TABLE ponder_bench_results DROP COLUMN flops")
    old = await aload_bench(bench.bench_id, db=db)
    assert [r.flops for r in old.results] == [None] * 3
    assert [r.tokens for r in old.results] == [r.tokens for r in bench.results]
    [cell] = report_data(old)["cells"]
    assert cell["mean_flops"] is None and f"| {cell['mean_seconds']:.1f} | - | 67% |" in (
        markdown(report_data(old))
    )
    more = BenchConfig(dataset=dataset, strategies=("self-consistency",), budgets=(1400,))
    new = await arun_bench(more, db=db, model=sized, progress=False)
    stored = await aload_bench(new.bench_id, db=db)
    assert all(r.flops == 2 * 1_000 * r.tokens for r in stored.results)


async def test_a_model_failing_on_one_problem_is_recorded(dataset: str, db: str) -> None:
    model = scripted(Bob=RuntimeError("server fell over"))
    config = BenchConfig(dataset=dataset, strategies=STRATEGIES, budgets=(700,))
    bench = await arun_bench(config, db=db, model=model, progress=False)
    assert len(bench.results) == 6
    failed = [r for r in bench.results if r.problem_index == 1]
    assert {r.status for r in failed} == {"failed"}
    assert all("server fell over" in (r.error or "") and r.correct is False for r in failed)
    assert {r.status for r in bench.results if r.problem_index != 1} == {"done"}


async def test_a_scorer_that_raises_is_recorded(
    dataset: str, db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def check(problem: Any, answer: str) -> bool:
        if problem.answer == "8":
            raise ZeroDivisionError("scorer bug")
        return bool(answer == problem.answer)

    monkeypatch.setitem(
        SCORERS, "number", Scorer(name="number", extract=extract_number, check=check)
    )
    config = BenchConfig(dataset=dataset, strategies=("self-consistency",), budgets=(700,))
    bench = await arun_bench(config, db=db, model=scripted(), progress=False)
    broken = bench.results[2]
    assert broken.correct is None and broken.pass_at_n is None
    assert "scorer raised ZeroDivisionError: scorer bug" in (broken.error or "")
    assert [r.correct for r in bench.results[:2]] == [True, True]
    report = write_report(bench, Path(db.split("///")[1]).parent / "r", plot=False)
    assert "plot" not in report
    assert json.loads(report["json"].read_text())["cells"][0]["unscored"] == 1


class _Tracking(ScriptedChatModel):
    in_flight: int = 0
    peak: int = 0

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            await asyncio.sleep(0.02)
            return await super()._agenerate(messages, stop, run_manager, **kwargs)
        finally:
            self.in_flight -= 1


@pytest.mark.parametrize("concurrency", [1, 3])
async def test_remote_models_run_with_a_concurrency_limit(
    dataset: str, db: str, concurrency: int
) -> None:
    model = _Tracking(replies=["The answer is 5."])
    config = BenchConfig(dataset=dataset, strategies=("best-of-n",), budgets=(700, 1400))
    bench = await arun_bench(config, db=db, model=model, concurrency=concurrency, progress=False)
    assert len(bench.results) == 6
    assert model.peak == concurrency


async def test_bad_configurations(dataset: str, db: str) -> None:
    with pytest.raises(ConfigurationError, match="unknown strategy 'magic'"):
        BenchConfig(dataset=dataset, strategies=("magic",))
    with pytest.raises(ConfigurationError, match="budgets are positive"):
        BenchConfig(dataset=dataset, budgets=(0,))
    with pytest.raises(ConfigurationError, match="named twice"):
        BenchConfig(dataset=dataset, strategies=("refine", "refine"))
    with pytest.raises(ConfigurationError, match="unknown dataset 'nope'"):
        await arun_bench(BenchConfig(dataset="nope"), db=db, model=scripted(), progress=False)
    with pytest.raises(ConfigurationError, match="concurrency"):
        await arun_bench(BenchConfig(dataset=dataset), db=db, model=scripted(), concurrency=0)
    config = BenchConfig(dataset=dataset, strategies=("self-consistency",), budgets=(700,))
    await arun_bench(config, db=db, model=scripted(), bench_id="mine", progress=False)
    other = BenchConfig(dataset=dataset, strategies=("best-of-n",), budgets=(700,))
    with pytest.raises(ConfigurationError, match="bench mine exists with another configuration"):
        await arun_bench(other, db=db, model=scripted(), bench_id="mine", progress=False)


def test_report_files_and_compare(
    dataset: str, db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one = run_bench(
        BenchConfig(dataset=dataset, strategies=STRATEGIES, budgets=BUDGETS),
        db=db,
        model=scripted(),
        progress=False,
    )
    two = run_bench(
        BenchConfig(dataset=dataset, strategies=("self-consistency",), budgets=(700,), seed=1),
        db=db,
        model=scripted(Ann="7"),
        progress=False,
    )
    assert one.bench_id != two.bench_id
    paths = write_report(one, tmp_path / "out")
    assert paths["plot"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = json.loads(paths["json"].read_text())
    assert [(c["strategy"], c["budget"]) for c in data["cells"]] == [
        (s, b) for s in STRATEGIES for b in BUDGETS
    ]
    text = paths["markdown"].read_text()
    assert "| self-consistency | 700 | none | 3 | 67% |" in text
    assert "![accuracy against tokens](accuracy_tokens.png)" in text
    assert "## Compute-optimal comparison" in text and "oracle verifier" in text
    table = compare_markdown([load_bench(one.bench_id, db=db), load_bench(two.bench_id, db=db)])
    assert one.bench_id in table and two.bench_id in table
    best = next(line for line in table.splitlines() if line.startswith("| best-of-n | 1400 |"))
    assert best.endswith("| - |") and "67% (" in best
    assert main(["bench", "--compare", one.bench_id, two.bench_id, "--db", db]) == 0
    out = capsys.readouterr().out
    assert (
        "| self-consistency | 700 | 67% (" in out and "| self-consistency | 700 | 33% (" not in out
    )
    assert main(["bench", "--list", "--db", db]) == 0
    assert one.bench_id in capsys.readouterr().out


def test_command_errors(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--dataset", "nope", "--db", db]) == 2
    assert "unknown dataset 'nope'; choose one of: gsm8k, math500" in capsys.readouterr().err
    assert main(["bench", "--compare", "abc", "--db", db]) == 2
    assert "two or more" in capsys.readouterr().err
    assert main(["bench", "--compare", "abc", "def", "--db", db]) == 2
    assert "no database at" in capsys.readouterr().err  # --compare reads: it creates nothing
    with pytest.raises(ConfigurationError, match="no bench 'abc'"):
        load_bench("abc", db=db)  # the API makes the store
    assert main(["bench", "--compare", "abc", "def", "--db", db]) == 2
    assert "no bench 'abc'" in capsys.readouterr().err
    assert main(["bench", "--db", db]) == 2
    assert "name a dataset" in capsys.readouterr().err
    assert main(["bench", "--dataset", "arithmetic", "--budgets", "a,b", "--db", db]) == 2
    assert "budgets are whole token counts" in capsys.readouterr().err


async def test_code_problems_are_verified_by_their_tests(db: str) -> None:
    solutions = {p.id: p.answer for p in load_dataset("humaneval", limit=2).problems}
    entry = {"HumanEval/0": "has_close_elements", "HumanEval/1": "separate_paren_groups"}

    def reply(messages: list[BaseMessage], _options: dict[str, Any]) -> str:
        text = messages[-1].text
        if entry["HumanEval/1"] in text:  # a wrong solution for the second problem
            return "```python\ndef separate_paren_groups(paren_string):\n    return []\n```"
        return f"```python\n{solutions['HumanEval/0']}```"

    config = BenchConfig(dataset="humaneval", strategies=STRATEGIES, budgets=(4000,), limit=2)
    model = ScriptedChatModel(reply_fn=reply)
    bench = await arun_bench(config, db=db, model=model, progress=False)
    assert {r.verifier for r in bench.results} == {"tests"}
    assert {(r.problem_id, r.correct, r.pass_at_n) for r in bench.results} == {
        ("HumanEval/0", True, True), ("HumanEval/1", False, False),
    }  # fmt: skip
    assert all(call.get("max_tokens", 0) <= 320 for call in model.calls)


def test_bench_command_prints_json(
    dataset: str,
    db: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    model = scripted()
    monkeypatch.setattr(EmbeddedChatModel, "from_name", lambda *a, **k: model)
    ids = []
    for budget in ("700", "1400"):
        out = tmp_path / f"report-{budget}"
        argv = ["bench", "--dataset", dataset, "-s", "self-consistency", "-b", budget,
                "--db", db, "--output", str(out), "--no-plot", "-q", "--json"]  # fmt: skip
        assert main(argv) == 0
        data = json.loads(capsys.readouterr().out)
        assert [(c["strategy"], c["budget"]) for c in data["cells"]] == [
            ("self-consistency", int(budget))
        ]
        assert json.loads((out / "report.json").read_text()) == data
        ids.append(data["bench_id"])
    assert main(["bench", "--list", "--db", db, "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert sorted(b["bench_id"] for b in listed) == sorted(ids)
    assert {b["config"]["problems"] for b in listed} == {3}
    assert main(["bench", "--compare", *ids, "--db", db, "--json"]) == 0
    assert [b["bench_id"] for b in json.loads(capsys.readouterr().out)] == ids
    assert main(["bench", "--list", "--db", f"sqlite:///{tmp_path / 'none.db'}", "--json"]) == 2
    assert "no database at" in json.loads(capsys.readouterr().err)["error"]["message"]
    assert not (tmp_path / "none.db").exists()


def test_pool_size_errors(dataset: str, db: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["bench", "--dataset", dataset, "-s", "best-of-n", "-b", "700", "-q"]
    assert main([*argv, "--db", db, "--pool-size", "0"]) == 2
    assert "--pool-size must be a positive whole number of connections, got 0" in (
        capsys.readouterr().err
    )
    assert main([*argv, "--db", db, "--pool-size", "two"]) == 2
    assert "--pool-size: invalid int value: 'two'" in capsys.readouterr().err
    assert main([*argv, "--db", db, "--pool-size", "2"]) == 2
    assert "sizes a PostgreSQL store's connection pool" in capsys.readouterr().err
    config = BenchConfig(dataset=dataset, strategies=("best-of-n",), budgets=(700,))
    for bad in (0, -1, True, 1.5):
        with pytest.raises(ConfigurationError, match="pool_size must be a positive whole"):
            run_bench(config, db=postgres_url(), model=scripted(), pool_size=bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="is a SQLite file"):
        run_bench(config, db=db, model=scripted(), pool_size=1)
    assert not Path(db.removeprefix("sqlite+aiosqlite:///")).exists()  # refused before opening


def postgres_url(schema: str = "ponder_test_unused") -> str:
    return f"{PG_URL}?schema={schema}"


@pytest.fixture
def pg_db() -> Iterator[str]:
    schema = new_schema_name()
    yield postgres_url(schema)
    drop_schemas([schema])


def test_pool_size_caps_the_bench_stores_on_postgresql(
    dataset: str,
    pg_db: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    opened: list[int] = []
    real = BenchStore.__init__

    def recording(self: BenchStore, db: str, **kwargs: Any) -> None:
        real(self, db, **kwargs)
        opened.append(self._engine.pool.size())  # type: ignore[attr-defined]  # noqa: SLF001

    monkeypatch.setattr(BenchStore, "__init__", recording)
    model = scripted()
    monkeypatch.setattr(EmbeddedChatModel, "from_name", lambda *a, **k: model)
    out = str(tmp_path / "out")
    argv = ["bench", "--dataset", dataset, "-s", "best-of-n", "-b", "700", "--db", pg_db,
            "--output", out, "--no-plot", "-q", "--json", "--pool-size", "1"]  # fmt: skip
    assert main(argv) == 0
    assert len(json.loads(capsys.readouterr().out)["cells"]) == 1
    assert opened and set(opened) == {1}  # the driver's results store and the worker's
    opened.clear()
    assert main([*argv[:-2]]) == 0  # resumed, with SQLAlchemy's default pool
    assert opened and set(opened) == {5}
