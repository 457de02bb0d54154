from __future__ import annotations

import time

from ponder.verify.sandbox import SandboxLimits, run_python


async def test_runs_code_and_captures_output() -> None:
    result = await run_python("import math\nprint(math.factorial(5))")
    assert result.ok and result.stdout.strip() == "120" and result.error is None


async def test_errors_are_reported_with_their_last_line() -> None:
    result = await run_python("raise ValueError('nope')")
    assert not result.ok
    assert result.error == "ValueError: nope"


async def test_an_endless_loop_is_killed_at_the_time_limit() -> None:
    started = time.monotonic()
    result = await run_python("while True: pass", SandboxLimits(seconds=0.5))
    assert result.timed_out and not result.ok
    assert time.monotonic() - started < 5


async def test_unbounded_allocation_hits_the_memory_limit() -> None:
    result = await run_python("x = bytearray(2 * 1024 ** 3)", SandboxLimits(memory_mb=256))
    assert not result.ok
    assert "MemoryError" in (result.error or "")


async def test_endless_output_is_cut() -> None:
    result = await run_python(
        "import sys\nfor _ in range(10**6): sys.stdout.write('x' * 100)",
        SandboxLimits(seconds=10, output_bytes=1000),
    )
    assert len(result.stdout) <= 1000


async def test_runs_in_an_empty_directory_without_the_environment() -> None:
    result = await run_python("import os\nprint(os.listdir('.'), os.environ.get('HOME'))")
    assert result.stdout.strip() == "[] None"


async def test_code_with_nul_bytes_is_run_not_crashed_on() -> None:
    result = await run_python("print('a')\x00")
    assert not result.ok and result.error  # a syntax error, reported like any other
