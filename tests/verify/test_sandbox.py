from __future__ import annotations

import asyncio
import logging
import shutil
import time
from collections.abc import Iterator

import pytest

from ponder.verify import sandbox
from ponder.verify.sandbox import Isolation, SandboxLimits, run_python


@pytest.fixture(params=["bubblewrap", "process"])
def isolation(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Isolation:
    """Run the test under each isolation this machine has."""
    wanted: Isolation = request.param
    if wanted == "bubblewrap" and sandbox.sandbox_isolation() != "bubblewrap":
        pytest.skip("bubblewrap cannot run here (Debian package `bubblewrap`)")
    monkeypatch.setattr(sandbox, "sandbox_isolation", lambda: wanted)
    return wanted


@pytest.fixture
def reprobe() -> Iterator[None]:
    """Forget the machine's probed isolation before and after the test."""
    sandbox.sandbox_isolation.cache_clear()
    sandbox._bubblewrap_base.cache_clear()
    yield
    sandbox.sandbox_isolation.cache_clear()
    sandbox._bubblewrap_base.cache_clear()


async def test_runs_code_and_captures_output(isolation: Isolation) -> None:
    result = await run_python("import math\nprint(math.factorial(5))")
    assert result.ok and result.stdout.strip() == "120" and result.error is None
    assert result.isolation == isolation


async def test_errors_are_reported_with_their_last_line(isolation: Isolation) -> None:
    result = await run_python("raise ValueError('nope')")
    assert not result.ok
    assert result.error == "ValueError: nope"


async def test_an_endless_loop_is_killed_at_the_time_limit(isolation: Isolation) -> None:
    started = time.monotonic()
    result = await run_python("while True: pass", SandboxLimits(seconds=0.5))
    assert result.timed_out and not result.ok
    assert time.monotonic() - started < 5


async def test_unbounded_allocation_hits_the_memory_limit(isolation: Isolation) -> None:
    result = await run_python("x = bytearray(2 * 1024 ** 3)", SandboxLimits(memory_mb=256))
    assert not result.ok
    assert "MemoryError" in (result.error or "")


async def test_endless_output_is_cut(isolation: Isolation) -> None:
    result = await run_python(
        "import sys\nfor _ in range(10**6): sys.stdout.write('x' * 100)",
        SandboxLimits(seconds=10, output_bytes=1000),
    )
    assert len(result.stdout) <= 1000


async def test_runs_in_an_empty_directory_without_the_environment(isolation: Isolation) -> None:
    result = await run_python("import os\nprint(os.listdir('.'), os.environ.get('HOME'))")
    assert result.stdout.strip() == "[] None"


async def test_code_with_nul_bytes_is_run_not_crashed_on(isolation: Isolation) -> None:
    result = await run_python("print('a')\x00")
    assert not result.ok and result.error  # a syntax error, reported like any other


async def test_a_secret_is_released_to_the_shell_only(isolation: Isolation) -> None:
    code = """
import os, sys
secret, report = int(sys.argv[1]), int(sys.argv[2])
os.write(report, b"cue\\n")  # the sandbox looks, sees Python, and keeps the secret
os.set_blocking(secret, False)
try:
    early = os.read(secret, 100)
except BlockingIOError:
    early = b"nothing"
os.set_blocking(secret, True)
os.write(report, b"python read: " + early + b"\\n")
os.dup2(secret, 0)
os.dup2(report, 1)
os.execv("/bin/sh", ["sh", "-c", 'echo; read -r line; echo "shell read: $line"'])
"""
    result = await run_python(code, secret="s3cr3t")
    assert result.ok, result.error
    assert result.report.splitlines() == ["cue", "python read: nothing", "", "shell read: s3cr3t"]


async def test_a_secret_is_short() -> None:
    with pytest.raises(ValueError, match="at most"):
        await run_python("pass", secret="x" * 5000)


@pytest.mark.usefixtures("reprobe")
def test_without_bwrap_runs_fall_back_with_one_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with caplog.at_level(logging.WARNING, logger="ponder.verify.sandbox"):
        assert sandbox.sandbox_isolation() == "process"
        assert sandbox.sandbox_isolation() == "process"
    assert len(caplog.records) == 1
    assert "not installed" in caplog.records[0].getMessage()


@pytest.mark.usefixtures("reprobe")
def test_a_bwrap_that_cannot_run_falls_back(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: "/bin/false")
    with caplog.at_level(logging.WARNING, logger="ponder.verify.sandbox"):
        assert sandbox.sandbox_isolation() == "process"
    assert "failed here" in caplog.records[0].getMessage()


SYNTAX_ERRORS = [
    "Adding the numbers one by one. The answer is 5.",
    "print(6 * 7",
    "x = 1\n  y = 2",
    "return 5",
    "from __future__ import braces",
    "x = 08",
    "a = (" * 300 + ")" * 300,
]


@pytest.mark.parametrize("code", SYNTAX_ERRORS)
async def test_code_that_does_not_compile_fails_as_the_interpreter_says_without_a_process(
    code: str, isolation: Isolation, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sandbox, "syntax_error", lambda code: None)
    spawned = await run_python(code)  # the interpreter's own words
    assert not spawned.ok and spawned.error
    monkeypatch.undo()
    monkeypatch.setattr(sandbox, "sandbox_isolation", lambda: isolation)
    monkeypatch.setattr(asyncio, "create_subprocess_exec", _no_process)
    fast = await run_python(code)
    assert (fast.ok, fast.error, fast.stdout, fast.returncode) == (False, spawned.error, "", 1)


@pytest.mark.parametrize(
    "code",
    [
        "print(1)",
        "print('a')\0",  # the interpreter words a null byte its own way
        "# -*- coding: latin-1 -*-\nprint(1",  # so it does an encoding declaration
        "x = 1\n# vim: set fileencoding=bogus :\nprint(",
        "print(" + "1" * 70_000,  # too long to judge on the caller's thread
    ],
)
def test_code_that_compiles_or_is_left_to_the_interpreter_is_run(code: str) -> None:
    assert sandbox.syntax_error(code.encode()) is None


async def _no_process(*args: object, **kwargs: object) -> None:
    raise AssertionError("no process should start for code that does not compile")


def test_judging_code_shows_none_of_its_warnings(capfd: pytest.CaptureFixture[str]) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning shown would raise here
        assert sandbox.syntax_error(b"x = 1\nprint(x is 5)") is None
        assert sandbox.syntax_error(b"print(x is 5") is not None
    assert capfd.readouterr().err == ""
