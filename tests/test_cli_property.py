"""Whatever it is given, ``ponder`` answers with an exit status: a result or one error line.

Random problems (control characters, lone surrogates, undecodable bytes), option strings,
budgets (negative, huge, NaN, not numbers), database strings and run ids go to
`ponder.cli.main` in-process, with a scripted model as the embedded one; no exception may
escape it, a status of 2 comes with a ``ponder: error:`` line, and a run never fails with a
``NodeError`` (a node tripping over a value that should have been refused). The Python API,
given the same kind of values, returns such a `ponder.RunResult` or raises one of ponder's
errors.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain_core.messages import BaseMessage

import ponder
from ponder.cli import main
from ponder.errors import PonderError
from ponder.graphs.registry import STRATEGIES
from ponder.models.embedded import EmbeddedChatModel
from ponder.testing import Reply, ScriptedChatModel

SETTINGS = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
CALLS_PER_RUN = 40
"""A run's model calls are cut off after this many (the model raises): huge budgets stay fast."""

ODD_TEXT = [
    "\ud800",
    b"\xff\xfe".decode("utf-8", "surrogateescape"),
    "\x00",
    "a\x00b",
    "\x1b[2J",
    "\r\n",
    "--json",
    "-",
    "",
    " ",
    "x" * 2000,
    "é漢字🙂",
]


def scripted_model() -> ScriptedChatModel:
    counter = itertools.count()

    def reply(_messages: list[BaseMessage], _options: dict[str, Any]) -> Reply:
        if next(counter) >= CALLS_PER_RUN:
            return RuntimeError("the scripted model is out of replies")
        return "Let me think. The answer is 4."

    return ScriptedChatModel(reply_fn=reply)


@pytest.fixture(scope="module")
def place(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The working directory (relative SQLite paths land here), with a store of two runs."""
    folder = tmp_path_factory.mktemp("cli-property")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(EmbeddedChatModel, "from_name", lambda *a, **k: scripted_model())
        patch.chdir(folder)
        db = f"sqlite+aiosqlite:///{folder / 'runs.db'}"
        for run_id, tokens in (("done1", "4000"), ("paused1", "400")):
            assert main(["solve", "2 + 2?", "-q", "--db", db, "--run-id", run_id,
                         "--max-tokens", tokens]) == 0  # fmt: skip
        yield folder


def text(max_size: int = 40) -> st.SearchStrategy[str]:
    """Any text: control characters and lone surrogates included, plus some odd cases."""
    anything = st.text(st.characters(blacklist_categories=()), max_size=max_size)
    return st.one_of(anything, st.sampled_from(ODD_TEXT))


NUMBERS = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["nan", "inf", "-inf", "1e400", "0", "-1", "0x10", "1_000", "", "1.5"]),
    text(8),
)
OPTION_KEYS = ["temperature", "max_samples", "agreement", "prompt", "max_tokens", "min_samples"]


def option() -> st.SearchStrategy[str]:
    value = st.one_of(NUMBERS.map(str), text(10))
    known = st.tuples(st.sampled_from(OPTION_KEYS), value).map(lambda kv: f"{kv[0]}={kv[1]}")
    return st.one_of(known, text(12))


def db_strings(place: Path) -> st.SearchStrategy[str]:
    return st.one_of(
        text(30),
        st.sampled_from(
            [
                "not a url",
                "sqlite:///",
                "sqlite:///:memory:",
                "sqlite:///runs.db",
                "sqlite:///new.db",
                "sqlite+aiosqlite:///nodir/new.db",
                "sqlite+pysqlite:///runs.db",
                "sqlite:///runs.db?schema=x",
                "sqlite:///runs.db?schema=",
                "mysql://user@host/db",
                "postgresql://127.0.0.1:1/none",
                f"sqlite:///{place}",  # a folder, not a file
                f"sqlite:///{place / 'runs.db'}",
            ]
        ),
    )


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    """``main(argv)``, failing the test on any exception that escapes it."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except BaseException as exc:  # noqa: BLE001 - the property: nothing escapes
            pytest.fail(f"main({argv!r}) raised {type(exc).__name__}: {exc}")
    return code, out.getvalue(), err.getvalue()


def check(code: int, out: str, err: str, argv: list[str]) -> None:
    assert isinstance(code, int) and code in (0, 1, 2)
    assert "Traceback" not in err
    if code == 2:
        assert out == ""
        if "--json" in argv:  # as a flag, or a problem argparse took for one
            (line,) = err.splitlines()
            assert set(json.loads(line)) == {"error"}
        else:
            errors = [line for line in err.splitlines() if line.startswith("ponder: error: ")]
            assert len(errors) == 1, err
    else:
        assert out, err  # a result, or the listing
        assert "NodeError" not in out  # a node that raised: a bad value got through


@SETTINGS
@given(data=st.data())
def test_solve_answers_anything_with_a_status(place: Path, data: st.DataObject) -> None:
    argv = ["solve", data.draw(text(), label="problem"), "-q"]
    argv += ["-s", data.draw(st.sampled_from([*STRATEGIES, "nope"]), label="strategy")]
    for flag in ("--max-tokens", "--max-calls", "--max-seconds", "--seed", "-n"):
        if data.draw(st.booleans(), label=f"has {flag}"):
            argv += [flag, str(data.draw(NUMBERS, label=flag))]
    for item in data.draw(st.lists(option(), max_size=3), label="options"):
        argv += ["-O", item]
    if data.draw(st.booleans(), label="expected"):
        argv += ["--expected", data.draw(text(6), label="answer")]
    if data.draw(st.booleans(), label="saved"):
        argv += ["--db", data.draw(db_strings(place), label="db")]
        argv += ["--run-id", data.draw(text(12), label="run id")]
    else:
        argv.append("--no-save")
    check(*run_cli(argv), argv)


@SETTINGS
@given(data=st.data())
def test_the_store_commands_answer_anything_with_a_status(place: Path, data: st.DataObject) -> None:
    run = data.draw(st.one_of(st.sampled_from(["done1", "paused1", "team/a"]), text(12)))
    command = data.draw(
        st.sampled_from(
            [["runs"], ["runs", run], ["show", run, "-o", "-"], ["rm", run],
             ["resume", run, "--add-tokens", "100"], ["fork", run, "-q"],
             ["bench", "--list"], ["bench", "--compare", run, run]]
        ),
        label="command",
    )  # fmt: skip
    argv = [*command, "--db", data.draw(db_strings(place), label="db")]
    if data.draw(st.booleans(), label="json") and command[0] != "show":
        argv.append("--json")
    check(*run_cli(argv), argv)


def _budget(tokens: Any, calls: Any, seconds: Any) -> ponder.Budget | None:
    try:
        return ponder.Budget(tokens=tokens, calls=calls, seconds=seconds)
    except PonderError:
        return None


VALUES = st.one_of(
    NUMBERS, st.none(), st.booleans(), st.just([1]), st.just({"a": 1}), st.just(math.nan)
)


@SETTINGS
@given(data=st.data())
def test_the_api_returns_a_result_or_raises_a_ponder_error(
    place: Path, data: st.DataObject
) -> None:
    kwargs: dict[str, Any] = {}
    sometimes = st.sampled_from([True, False, False])  # most runs get past the checks
    for name in ("seed", "call_timeout", "verifier_timeout"):
        if data.draw(sometimes, label=f"has {name}"):
            kwargs[name] = data.draw(VALUES, label=name)
    budget = None
    if data.draw(sometimes, label="has budget"):
        budget = _budget(
            *(data.draw(VALUES, label=unit) for unit in ("tokens", "calls", "seconds"))
        )
    if data.draw(sometimes, label="saved"):
        kwargs["db"] = data.draw(db_strings(place), label="db")
    problem = data.draw(text(), label="problem")
    strategy = data.draw(st.sampled_from(["self-consistency", "best-of-n", "refine"]))
    verifier = ponder.ExpectedAnswer("4") if strategy != "self-consistency" else None
    before = set(os.listdir(place))
    try:
        result = ponder.solve(
            problem, strategy, model=scripted_model(), budget=budget,  # type: ignore[arg-type]
            verifier=verifier, **kwargs,
        )  # fmt: skip
    except PonderError:
        return
    except BaseException as exc:  # noqa: BLE001 - the property: only ponder's errors
        pytest.fail(f"solve raised {type(exc).__name__}: {exc} with {kwargs}")
    assert isinstance(result, ponder.RunResult)
    assert result.status in ("done", "paused", "failed")
    assert "NodeError" not in {e["kind"] for e in result.errors}  # a bad value got through
    if "db" not in kwargs:
        assert set(os.listdir(place)) == before
