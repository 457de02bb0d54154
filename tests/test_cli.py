from __future__ import annotations

import asyncio
import importlib.metadata
import io
import json
import math
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import ormsgpack
import pytest

import ponder
from ponder.cli import main
from ponder.errors import ConfigurationError, VerifierError
from ponder.models.embedded import EmbeddedChatModel
from ponder.testing import ScriptedChatModel
from ponder.verify.verifier import run_verifier

BAD_UTF8 = b"\xff".decode("utf-8", "surrogateescape")
"""What Python makes of a command-line argument that is not UTF-8 (a lone surrogate)."""


@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch) -> ScriptedChatModel:
    """The embedded model, as the CLI loads it, is a scripted one."""
    model = ScriptedChatModel(replies=["The answer is 4."])
    monkeypatch.setattr(EmbeddedChatModel, "from_name", lambda *a, **k: model)
    return model


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'runs.db'}"


def solved(db: str, run_id: str, *extra: str) -> None:
    """Start run ``run_id`` from the command line (with the scripted model)."""
    assert main(["solve", "2 + 2?", "-q", "--db", db, "--run-id", run_id, *extra]) in (0, 1)


def error_line(err: str) -> str:
    """The one ``ponder: error:`` line of ``err`` (and no traceback)."""
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("ponder: error: ")]
    assert len(lines) == 1, err
    return lines[0]


def test_strategies_lists_every_strategy(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["strategies"]) == 0
    out = capsys.readouterr().out
    assert "self-consistency" in out and "best-of-n" in out


def test_models_lists_the_embedded_models(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models"]) == 0
    assert "smollm2" in capsys.readouterr().out


def test_best_of_n_without_expected_is_a_clear_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The check comes first: no run is started, no model is loaded, no store is opened.
    def must_not_run(*args: object, **kwargs: object) -> None:
        pytest.fail("best-of-n without --expected went on to solve the problem")

    monkeypatch.setattr("ponder.cli.solve", must_not_run)
    monkeypatch.setattr("ponder.models.embedded._load_engine", must_not_run)
    monkeypatch.chdir(tmp_path)  # the default store, ponder.db, would land here
    assert main(["solve", "q", "--strategy", "best-of-n"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        "ponder: error: best-of-n needs a verifier: pass --expected ANSWER (the known answer)\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_bad_option_syntax_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["solve", "q", "--option", "novalue"]) == 2
    line = error_line(capsys.readouterr().err)
    assert "options look like key=value, got 'novalue'" in line
    assert "ponder solve --help" in line


# -- item 6: ponder errors, never tracebacks --------------------------------------------------


@pytest.mark.parametrize(
    "extra",
    [
        [BAD_UTF8],
        ["q", "--option", f"prompt={BAD_UTF8}"],
        ["q", "--expected", BAD_UTF8],
        ["q", "--run-id", f"run{BAD_UTF8}"],
        ["\ud800"],
    ],
    ids=["problem", "option", "expected", "run-id", "lone-surrogate"],
)
def test_text_that_is_not_utf8_on_the_command_line_is_refused(
    extra: list[str], scripted: ScriptedChatModel, db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["solve", *extra, "-q", "--db", db]) == 2
    line = error_line(capsys.readouterr().err)
    assert "not valid UTF-8" in line
    assert scripted.calls == []


def test_a_lone_surrogate_in_the_problem_is_refused_by_the_api() -> None:
    model = ScriptedChatModel(replies=["The answer is 4."])
    with pytest.raises(ConfigurationError, match="not valid text"):
        ponder.solve("what is \ud800?", model=model)
    assert model.calls == []


@pytest.mark.parametrize(
    "command",
    [
        ["solve", "q", "-q"],
        ["runs"],
        ["runs", "r1"],
        ["resume", "r1"],
        ["fork", "r1"],
        ["rm", "r1"],
        ["show", "r1"],
        ["bench", "--list"],
    ],
    ids=lambda command: "-".join(command[:2]),
)
def test_a_db_that_is_not_a_url_is_a_clear_error(
    command: list[str], scripted: ScriptedChatModel, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*command, "--db", "not a url"]) == 2
    captured = capsys.readouterr()
    assert "not a database URL: 'not a url'" in error_line(captured.err)
    assert captured.out == ""  # not even a header


def test_a_damaged_registry_row_is_skipped_with_a_warning(
    scripted: ScriptedChatModel, db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    solved(db, "good")
    solved(db, "bad")
    solved(db, "odd")
    with sqlite3.connect(tmp_path / "runs.db") as connection:
        connection.execute("UPDATE ponder_runs SET options = '{not json' WHERE run_id = 'bad'")
        connection.execute("UPDATE ponder_runs SET created_at = 'soon' WHERE run_id = 'odd'")
    capsys.readouterr()
    assert main(["runs", "--db", db]) == 0
    captured = capsys.readouterr()
    assert "good" in captured.out and "bad" not in captured.out and "odd" not in captured.out
    warnings = [line for line in captured.err.splitlines() if line.startswith("ponder: warning:")]
    assert len(warnings) == 2 and "'bad'" in captured.err and "'odd'" in captured.err
    assert main(["runs", "--db", db, "--json"]) == 0
    assert [r["run_id"] for r in json.loads(capsys.readouterr().out)] == ["good"]
    # The damaged run itself is a ponder error wherever it is read.
    for command in (["show", "bad", "-o", "-"], ["resume", "bad"], ["runs", "bad"]):
        assert main([*command, "--db", db]) == 2
        assert "damaged" in error_line(capsys.readouterr().err)


def _tamper(path: Path, channel: str, value: Any) -> None:
    blob = ormsgpack.packb(value)
    with sqlite3.connect(path) as connection:
        for table in ("ponder_checkpoint_blobs", "ponder_checkpoint_writes"):
            connection.execute(
                f"UPDATE {table} SET type = 'msgpack', blob = ? WHERE channel = ?",  # noqa: S608
                (blob, channel),
            )


TAMPERED = {
    "garbage": ormsgpack.Ext(0, b"\xc1\xc1"),  # not msgpack inside: the reader returns None
    "blocked-type": ormsgpack.Ext(1, ormsgpack.packb(["builtins", "int", [1, 2, 3]])),
    "unknown-code": ormsgpack.Ext(99, b"zz"),
    "safe-type": ormsgpack.Ext(0, ormsgpack.packb(["builtins", "set", [1, 2]])),
}
"""Extension values a tampered checkpoint may hold, and what LangGraph's reader makes of them."""


@pytest.mark.parametrize("channel", ["candidates", "ledger", "budget", "votes", "errors"])
@pytest.mark.parametrize("value", list(TAMPERED), ids=str)
def test_tampered_extension_values_in_a_checkpoint_are_checkpoint_errors(
    channel: str,
    value: str,
    scripted: ScriptedChatModel,
    db: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    solved(db, "r1", "--max-tokens", "400")  # pauses: the budget cannot afford the next call
    _tamper(tmp_path / "runs.db", channel, TAMPERED[value])
    capsys.readouterr()
    commands = {
        "show": ["show", "r1", "-o", "-"],
        "runs": ["runs", "r1"],
        "fork": ["fork", "r1", "-q", "--model", "smollm2", "--add-tokens", "500"],
        "resume": ["resume", "r1", "-q", "--model", "smollm2", "--add-tokens", "500"],
    }
    codes = {}
    for name, command in commands.items():
        codes[name] = main([*command, "--db", db])
        err = capsys.readouterr().err
        assert "Traceback" not in err
        if codes[name] == 2:
            assert "damaged" in error_line(err), err
    # Each command refuses the channels it reads (show takes the budget from the registry).
    assert codes["fork"] == codes["resume"] == 2
    if channel != "budget":
        assert codes["show"] == 2
    if channel in ("candidates", "ledger"):
        assert codes["runs"] == 2


def test_seed_must_be_a_whole_number(
    scripted: ScriptedChatModel, capsys: pytest.CaptureFixture[str]
) -> None:
    for seed in ("x", 1.5, True, None):
        with pytest.raises(ConfigurationError, match="seed must be a whole number"):
            ponder.solve("2 + 2?", model=scripted, seed=seed)  # type: ignore[arg-type]
    assert main(["solve", "q", "--seed", "x", "--no-save"]) == 2
    assert "argument --seed: invalid int value: 'x'" in error_line(capsys.readouterr().err)
    assert scripted.calls == []


@pytest.mark.parametrize("timeout", [-1, 0, math.nan, "5", True])
def test_verifier_timeout_must_be_positive_seconds(timeout: object) -> None:
    model = ScriptedChatModel(replies=["The answer is 4."])
    with pytest.raises(ConfigurationError, match="verifier_timeout must be positive seconds"):
        ponder.solve(
            "2 + 2?", "best-of-n", model=model, verifier=ponder.ExpectedAnswer("4"),
            verifier_timeout=timeout,  # type: ignore[arg-type]
        )  # fmt: skip
    assert model.calls == []


class _Exit(BaseException):
    """A user's ``BaseException`` that is not an interruption."""


def _raising(error: BaseException, *, is_async: bool) -> Any:
    if is_async:

        async def verify_async(problem: str, candidate: Mapping[str, Any]) -> float:
            raise error

        return verify_async

    def verify(problem: str, candidate: Mapping[str, Any]) -> float:
        raise error

    return verify


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize(
    "error", [SystemExit(3), _Exit("out"), GeneratorExit()], ids=lambda e: type(e).__name__
)
def test_a_verifier_raising_a_base_exception_is_a_verifier_error(
    error: BaseException, is_async: bool
) -> None:
    model = ScriptedChatModel(replies=["The answer is 4."])
    verifier = _raising(error, is_async=is_async)
    result = ponder.solve("2 + 2?", "best-of-n", model=model, verifier=verifier, n=2)
    assert result.status == "done" and len(result.candidates) == 2
    assert {c["verdict"] for c in result.candidates} == {"unverified"}
    assert {e["kind"] for e in result.errors} == {"VerifierError"}
    assert type(error).__name__ in result.errors[0]["message"]


async def test_run_verifier_lets_cancellation_through() -> None:
    async def cancelled(problem: str, candidate: Mapping[str, Any]) -> float:
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await run_verifier(cancelled, "q", {"text": "x"}, timeout=5)
    with pytest.raises(VerifierError, match="SystemExit"):
        await run_verifier(_raising(SystemExit(1), is_async=False), "q", {}, timeout=5)


def _unprivileged() -> list[str] | None:
    """A command prefix that runs a process without root's right to write anything."""
    if os.geteuid() != 0:
        return []
    unshare = shutil.which("unshare")
    if unshare is None:
        return None
    # Root outside, an ordinary user inside: file permissions apply to it.
    prefix = [unshare, "--user", "--map-user=1000", "--map-group=1000"]
    probe = subprocess.run([*prefix, "true"], capture_output=True, check=False)
    return prefix if probe.returncode == 0 else None


@pytest.mark.parametrize("journal", ["wal", "delete"])
def test_a_read_only_database_can_be_listed(
    journal: str, scripted: ScriptedChatModel, tmp_path: Path
) -> None:
    prefix = _unprivileged()
    if prefix is None:
        pytest.skip("cannot drop root's rights here (no user namespaces)")
    folder = tmp_path / "store"
    folder.mkdir()
    url = f"sqlite+aiosqlite:///{folder / 'runs.db'}"
    solved(url, "r1")
    connection = sqlite3.connect(folder / "runs.db")
    connection.execute(f"PRAGMA journal_mode = {journal}")
    connection.close()  # a WAL database's -wal and -shm files go with its last connection
    folder.joinpath("runs.db").chmod(0o444)
    folder.chmod(0o555)
    script = (
        "import sys; from ponder.cli import main; "
        "sys.exit(main(sys.argv[1:]) or main(['runs', 'r1', '--db', sys.argv[-1]]) "
        "or main(['show', 'r1', '-o', '-', '--db', sys.argv[-1]]))"
    )
    try:
        listed = subprocess.run(
            [*prefix, sys.executable, "-c", script, "runs", "--db", url],
            capture_output=True, text=True, check=False, timeout=120,
            cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])},
        )  # fmt: skip
    finally:
        folder.chmod(0o755)
        folder.joinpath("runs.db").chmod(0o644)
    assert listed.returncode == 0, listed.stderr
    assert "r1" in listed.stdout and "<!DOCTYPE html>" in listed.stdout
    assert sorted(p.name for p in folder.iterdir()) == ["runs.db"]


@pytest.mark.parametrize(
    "command",
    [["runs"], ["runs", "r1"], ["resume", "r1"], ["fork", "r1"], ["rm", "r1"], ["show", "r1"]],
    ids=lambda command: "-".join(command),
)
def test_a_missing_database_is_refused_and_not_created(
    command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "nowhere.db"
    assert main([*command, "--db", f"sqlite:///{path}"]) == 2
    assert error_line(capsys.readouterr().err) == (
        f"ponder: error: no database at {path}: check --db (`ponder solve` creates one)"
    )
    assert list(tmp_path.iterdir()) == []


def test_solve_still_creates_the_database(
    scripted: ScriptedChatModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["solve", "2 + 2?", "-q"]) == 0
    assert (tmp_path / "ponder.db").exists()
    assert main(["runs"]) == 0


# -- item 7: conventions ----------------------------------------------------------------------


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"ponder {importlib.metadata.version('ponder')}\n"


def test_json_on_every_command_that_prints_data(
    scripted: ScriptedChatModel, db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["strategies", "--json"]) == 0
    strategies = json.loads(capsys.readouterr().out)
    assert {s["name"] for s in strategies} >= {"self-consistency", "best-of-n", "mcts"}
    assert {"summary", "needs_verifier", "candidate_limit", "options"} <= set(strategies[0])
    assert main(["models", "--json"]) == 0
    assert [m["name"] for m in json.loads(capsys.readouterr().out)] == ["smollm2", "gemma3"]
    solved(db, "r1")
    capsys.readouterr()
    assert main(["runs", "--db", db, "--json"]) == 0
    (record,) = json.loads(capsys.readouterr().out)
    assert record["run_id"] == "r1" and record["status"] == "done" and record["answer"] == "4"
    assert main(["runs", "r1", "--db", db, "--json"]) == 0
    points = json.loads(capsys.readouterr().out)
    assert points and {"checkpoint_id", "step", "candidates", "tokens"} == set(points[0])
    assert main(["rm", "r1", "--db", db, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"removed": "r1"}


def test_errors_under_json_are_json_on_stderr(
    scripted: ScriptedChatModel, db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    cases = [
        (["runs", "--db", "not a url", "--json"], "not a database URL"),
        (["solve", "q", "--seed", "x", "--json"], "invalid int value"),
        (["solve", "q", "-s", "best-of-n", "--json"], "needs a verifier"),
        (["strategies", "--json", "--nope"], "unrecognized arguments: --nope"),
    ]
    for argv, message in cases:
        assert main(argv) == 2
        captured = capsys.readouterr()
        assert captured.out == ""
        error = json.loads(captured.err)
        assert set(error) == {"error"} and error["error"]["kind"] == "ConfigurationError"
        assert message in error["error"]["message"]


def test_strategy_options_take_O_and_o_is_not_an_option_of_solve(
    scripted: ScriptedChatModel, capsys: pytest.CaptureFixture[str]
) -> None:
    for flag in ("-O", "--option"):
        argv = ["solve", "q", flag, "temperature=0.25", flag, "select=majority", "-n", "1"]
        argv += ["--no-save", "-q", "--json"]  # majority: the first sample is not greedy
        assert main(argv) == 0
        assert json.loads(capsys.readouterr().out)["candidates"][0]["temperature"] == 0.25
    assert main(["solve", "q", "-o", "temperature=0.25", "--no-save"]) == 2
    assert "unrecognized arguments: -o" in error_line(capsys.readouterr().err)


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("terminal", [True, False], ids=["terminal", "pipe"])
def test_solve_says_it_is_waiting_for_a_slow_model_on_a_terminal_only(
    terminal: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = ScriptedChatModel(replies=["The answer is 4."], delay=0.6)
    monkeypatch.setattr(EmbeddedChatModel, "from_name", lambda *a, **k: model)
    monkeypatch.setattr("ponder.cli._WAIT_NOTICE_AFTER", 0.1)
    monkeypatch.setattr("ponder.cli._WAIT_TICK", 0.05)
    stderr = _Terminal() if terminal else io.StringIO()
    monkeypatch.setattr(sys, "stderr", stderr)
    assert main(["solve", "2 + 2?", "-n", "1", "--no-save"]) == 0
    err = stderr.getvalue()
    assert ("waiting for the model" in err) is terminal
    assert ("\r" in err) is terminal
    assert "answer 4" in err  # the progress line itself


def test_rescore_prints_another_rule_and_refuses_bad_values(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from ponder.testing import ScriptedChatModel

    db = f"sqlite+aiosqlite:///{tmp_path / 'runs.db'}"
    model = ScriptedChatModel(
        replies=["The answer is 8.", "The answer is 7.", "The answer is 8."],
        logprob_fn=lambda text: -0.05 if "7" in text else -2.0,
    )
    ponder.solve("q", model=model, db=db, run_id="r", max_samples=3, min_samples=3, agreement=1.0)
    assert main(["rescore", "r", "--select", "confidence", "--json", "--db", db]) == 0
    found = json.loads(capsys.readouterr().out)
    assert (found["answer"], found["stored_answer"]) == ("7", "8")
    assert main(["rescore", "r", "--db", db]) == 0
    assert "answer by majority: 8" in capsys.readouterr().out
    assert main(["rescore", "r", "--select", "filtered", "--keep", "2", "--db", db]) == 2
    assert "keep must be in (0, 1]" in capsys.readouterr().err
    assert main(["rescore", "missing", "--db", db]) == 2
    missing = f"sqlite+aiosqlite:///{tmp_path / 'none.db'}"
    assert main(["rescore", "r", "--db", missing]) == 2
    assert not (tmp_path / "none.db").exists()


def test_solve_reports_the_flops_estimate_where_the_model_size_is_known(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sized = ScriptedChatModel(replies=["The answer is 4."], parameters=1_000)
    monkeypatch.setattr(EmbeddedChatModel, "from_name", lambda *a, **k: sized)
    assert main(["solve", "2 + 2?", "-n", "1", "--no-save", "-q", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["flops"] == 2 * 1_000 * data["usage"]["tokens"]
    assert main(["solve", "2 + 2?", "-n", "1", "--no-save", "-q"]) == 0
    assert f"; about {data['flops']:.2g} FLOPs" in capsys.readouterr().out
    unsized = ScriptedChatModel(replies=["The answer is 4."])
    monkeypatch.setattr(EmbeddedChatModel, "from_name", lambda *a, **k: unsized)
    assert main(["solve", "2 + 2?", "-n", "1", "--no-save", "-q", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["flops"] is None
    assert main(["solve", "2 + 2?", "-n", "1", "--no-save", "-q"]) == 0
    assert "FLOPs" not in capsys.readouterr().out
