"""Escapes from the sandbox and forged code-test verdicts, each tried and contained."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ponder.verify import CodeTests, sandbox
from ponder.verify.sandbox import Isolation, SandboxLimits, run_python

REPOSITORY = Path(__file__).resolve().parents[2]
NO_BUBBLEWRAP = "bubblewrap cannot run here (Debian package `bubblewrap`; needs user namespaces)"


@pytest.fixture(params=["bubblewrap", "process"])
def isolation(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Isolation:
    """Run the test under each isolation this machine has."""
    wanted: Isolation = request.param
    if wanted == "bubblewrap" and sandbox.sandbox_isolation() != "bubblewrap":
        pytest.skip(NO_BUBBLEWRAP)
    monkeypatch.setattr(sandbox, "sandbox_isolation", lambda: wanted)
    return wanted


@pytest.fixture
def contained() -> None:
    """Skip unless runs are contained by bubblewrap (the checks below need namespaces)."""
    if sandbox.sandbox_isolation() != "bubblewrap":
        pytest.skip(NO_BUBBLEWRAP)


@pytest.mark.usefixtures("contained")
async def test_the_parent_environment_is_out_of_reach(monkeypatch: pytest.MonkeyPatch) -> None:
    token = secrets.token_hex(8)
    monkeypatch.setenv("PONDER_TEST_SECRET", token)  # an API key, in os.environ and below
    sleeper = [sys.executable, "-c", "import time; time.sleep(30)"]
    with subprocess.Popen(sleeper) as holder:  # a process started with it in its environment
        code = f"""
import os
seen = [repr(dict(os.environ))]
for pid in ({os.getpid()}, {holder.pid}, os.getppid(), 1, "self"):
    try:
        seen.append(open(f"/proc/{{pid}}/environ", "rb").read().decode(errors="replace"))
    except OSError as exc:
        seen.append(repr(exc))
print(seen)
"""
        try:
            result = await run_python(code)
        finally:
            holder.kill()
    assert result.ok and result.isolation == "bubblewrap"
    assert token not in result.stdout + result.stderr


@pytest.mark.usefixtures("contained")
async def test_the_repository_and_home_cannot_be_read() -> None:
    marker = "this marker only exists in the repository"
    code = f"""
import os
for path in ({str(Path(__file__).resolve())!r}, {str(REPOSITORY / "pyproject.toml")!r}):
    try:
        print(open(path).read())
    except OSError as exc:
        print("refused", exc)
print(os.listdir({str(REPOSITORY)!r}), os.listdir("/root"))
"""
    result = await run_python(code)
    assert result.ok, result.error
    *reads, listing = result.stdout.strip().splitlines()
    assert reads == [line for line in reads if line.startswith("refused")]
    assert marker not in result.stdout and "pyproject.toml" not in listing


@pytest.mark.usefixtures("contained")
async def test_writes_outside_the_scratch_space_do_not_land(tmp_path: Path) -> None:
    targets = [tmp_path / "escaped.txt", REPOSITORY / f"escaped-{secrets.token_hex(4)}.txt"]
    code = f"""
import os
for path in {[str(target) for target in targets]!r}:
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        open(path, "w").write("out")
    except OSError as exc:
        print("refused", exc)
"""
    result = await run_python(code)
    assert result.ok, result.error
    assert not any(target.exists() for target in targets)


async def test_a_file_over_the_size_limit_cannot_be_written(isolation: Isolation) -> None:
    code = "open('big', 'wb').write(b'x' * (2 * 1024 * 1024))"
    result = await run_python(code, SandboxLimits(disk_mb=1))
    assert not result.ok and result.isolation == isolation
    assert "File too large" in (result.error or "") or "No space left" in (result.error or "")


@pytest.mark.usefixtures("contained")
async def test_no_network_connection_reaches_the_host() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.setblocking(False)
        port = server.getsockname()[1]
        code = f"""
import socket
try:
    socket.create_connection(("127.0.0.1", {port}), timeout=2).close()
    print("connected")
except OSError as exc:
    print("refused", exc)
"""
        result = await run_python(code)
        assert result.ok and "refused" in result.stdout
        with pytest.raises(BlockingIOError):
            server.accept()


def _running(marker: str) -> list[int]:
    """Return the processes on this machine whose command line has ``marker``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def _survivors(marker: str) -> list[int]:
    """Return the marked processes left after up to two seconds for them to go."""
    deadline = time.monotonic() + 2
    while (found := _running(marker)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return found


@pytest.mark.parametrize(
    ("how", "end"), [("fork", "exit"), ("daemon", "exit"), ("daemon", "timeout")]
)
async def test_no_child_outlives_the_run(isolation: Isolation, how: str, end: str) -> None:
    if how == "daemon" and isolation == "process":
        pytest.skip("process isolation cannot reach a child that leaves its session (setsid)")
    marker = f"ponder-escape-{secrets.token_hex(6)}"
    code = f"""
import os, sys, time
for _ in range(4):
    if os.fork() == 0:
        if {how == "daemon"}:
            os.setsid()
            if os.fork():
                os._exit(0)
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(60)", {marker!r}])
time.sleep(1)
while {end == "timeout"}:
    pass
"""
    limits = SandboxLimits(seconds=2 if end == "timeout" else 10)
    started = time.monotonic()
    result = await run_python(code, limits)
    assert result.timed_out is (end == "timeout"), result.error
    assert time.monotonic() - started < 8
    assert _survivors(marker) == []


WRONG = "def add(a, b):\n    return 5\n"
RIGHT = "def add(a, b):\n    return a + b\n"
TESTS = "assert add(-1, 1) == 0\nassert add(2, 3) == 5"  # the wrong add passes the last line

FORGERIES = {
    "os._exit": "import os\nos._exit(0)",
    "SystemExit": "raise SystemExit(0)",
    "SystemExit in the tests": "def add(a, b):\n    raise SystemExit(0)",
    "excepthook": "import os, sys\nsys.excepthook = lambda *args: os._exit(0)",
    "atexit": "import atexit, os\natexit.register(os._exit, 0)",
    "print, stdout and every descriptor": (
        "import builtins, io, os, sys\n"
        "builtins.print = lambda *args, **kwargs: None\n"
        "sys.stdout = io.StringIO()\n"
        "for fd in range(1, 64):\n"
        "    try:\n"
        "        os.write(fd, b'all tests passed\\n')\n"
        "    except OSError:\n"
        "        pass\n"
        "os._exit(0)"
    ),
    "thread": (
        "import os, threading, time\n"
        "def add(a, b):\n"
        "    threading.Thread(target=os._exit, args=(0,)).start()\n"
        "    time.sleep(5)"
    ),
    "shell": "import os\nos.execv('/bin/sh', ['sh', '-c', 'exit 0'])",
    "subprocess": (
        "import os, subprocess, sys\nsubprocess.run([sys.executable, '-c', ''])\nos._exit(0)"
    ),
    "ctypes": "import ctypes\nctypes.CDLL(None)._exit(0)",
    "tracer": (
        "import sys\n"
        "def jump(frame, event, arg):\n"
        "    if event == 'line' and frame.f_code.co_name == '<module>':\n"
        "        last = max(line for _, _, line in frame.f_code.co_lines() if line)\n"
        "        if frame.f_lineno < last:\n"
        "            frame.f_lineno = last\n"
        "    return jump\n"
        "sys._getframe().f_trace = jump\n"
        "sys.settrace(jump)"
    ),
}


@pytest.mark.parametrize("forgery", FORGERIES.values(), ids=FORGERIES.keys())
async def test_a_wrong_solution_cannot_forge_its_verdict(
    isolation: Isolation, forgery: str
) -> None:
    tests = CodeTests(TESTS)
    forged = await tests("", {"answer": f"{WRONG}\n{forgery}"})
    assert forged.score == 0.0, forged.reason
    assert (await tests("", {"answer": RIGHT})).score == 1.0
