r"""Run untrusted Python (model-written programs, code under test) in a limited subprocess.

The code runs in a fresh interpreter (``python -I``: no user site, no ``PYTHON*`` variables, no
current directory on the path) with an empty environment, limits on wall seconds, CPU seconds,
address space, file size and output size, and its whole process group killed when the run
ends. A program that loops, allocates, writes or prints without bound is stopped and
reported, never waited on.

Code that does not compile never reaches a process: `syntax_error` compiles it here (which
runs none of it) and the run fails with the line the interpreter would print.

Containment comes in two levels; `sandbox_isolation` says which one this machine gives (it
probes once per process) and every `SandboxResult` records the one its run had:

- ``"bubblewrap"``: the interpreter runs under `bubblewrap <https://github.com/containers/
  bubblewrap>`_ (``bwrap``, Debian package ``bubblewrap``) in new user, PID, network, mount,
  IPC and UTS namespaces, as an unprivileged user with no capabilities. It sees ``/usr``
  (and ``/bin``, ``/lib*``, ``/etc/ld.so.cache``) and the Python installation and virtualenv
  read-only, a minimal ``/dev``, and a private ``/tmp`` (its working directory) and
  ``/dev/shm`` of ``disk_mb`` each, which vanish with the run. It cannot see the repository
  (but for a virtualenv inside it), the home directory, other processes or
  any ``/proc`` (none is mounted: code has no need of it, and ``/proc/self/mem`` would let a
  program rewrite its own memory, audit hooks included), cannot write anywhere else, has no
  network (only a loopback of its own), and every process it starts, daemons included, dies
  with the run (its first process is PID 1 of the namespace).
- ``"process"``: the fallback where ``bwrap`` is missing or cannot create namespaces. The
  resource limits, the empty environment and the process-group kill still hold, but nothing
  is contained: the program can read and write what the user can, use the network, and a
  child that leaves the process group (``setsid``) survives. A warning is logged once.

Example:
    >>> import asyncio
    >>> asyncio.run(run_python("print(6 * 7)")).stdout
    '42\n'
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

__all__ = (
    "Isolation",
    "SandboxLimits",
    "SandboxResult",
    "run_python",
    "sandbox_isolation",
    "syntax_error",
)

logger = logging.getLogger(__name__)

Isolation = Literal["bubblewrap", "process"]
"""How a sandboxed program is contained (see the module docstring).

- ``"bubblewrap"``: namespaces: a private filesystem view, no network, no other processes.
- ``"process"``: a plain subprocess with resource limits only.
"""

_ENV = {"PATH": "/usr/bin:/bin"}
"""The whole environment of a sandboxed program (and of ``bwrap`` itself)."""
_GRACE = 0.5
"""Seconds to wait for output after the program exits (a child that escaped the process
group may hold the pipes open; its output is then cut)."""
_SECRET_MAX = 4096
"""Most bytes of ``secret``: it must fit in the pipe buffer (it is written in one go)."""
_SHELL = os.path.realpath("/bin/sh")
"""The program a run's main process must have become before its secret is released."""


@dataclass(frozen=True, kw_only=True, slots=True)
class SandboxLimits:
    """Limits for one sandboxed run."""

    seconds: float = 5.0
    """Wall-clock seconds before the process is killed."""
    memory_mb: int = 512
    """Address-space limit, in MiB."""
    output_bytes: int = 64_000
    """Most bytes of stdout and of stderr kept."""
    disk_mb: int = 64
    """Largest file the program may write, in MiB (``RLIMIT_FSIZE``); under bubblewrap also
    the size of each of its scratch filesystems (``/tmp``, ``/dev/shm``)."""
    processes: int = 64
    """Most processes and threads the program may run at once (``RLIMIT_NPROC``). Enforced
    under bubblewrap when the user is not root and the kernel counts processes per user
    namespace (Linux 5.14+); elsewhere the count would include all the user's processes."""


@dataclass(frozen=True, kw_only=True, slots=True)
class SandboxResult:
    """What a sandboxed run produced."""

    ok: bool
    """True when the program exited with status 0 within its limits."""
    stdout: str
    """What it printed (cut at the output limit)."""
    stderr: str
    """Its error output (cut at the output limit)."""
    timed_out: bool
    """True when it was killed at the time limit."""
    returncode: int | None
    """Its exit status (``None`` when killed)."""
    report: str = ""
    """What it wrote to its report pipe (runs given a ``secret`` only; cut at the output
    limit)."""
    isolation: Isolation = "process"
    """How the run was contained."""

    @property
    def error(self) -> str | None:
        """A one-line reason for failure, or ``None`` when it succeeded."""
        if self.ok:
            return None
        if self.timed_out:
            return "the program did not finish in time"
        lines = [line for line in self.stderr.strip().splitlines() if line.strip()]
        if lines:
            return lines[-1][:300]
        return f"the program exited with status {self.returncode}"


@functools.cache  # a fact about the machine: probe once per process
def sandbox_isolation() -> Isolation:
    """Return the isolation sandboxed runs get here: ``"bubblewrap"`` when it works."""
    if shutil.which("bwrap") is None:
        reason = "bwrap is not installed (Debian package `bubblewrap`)"
    else:
        command = [*_bubblewrap(SandboxLimits()), sys.executable, "-I", "-c", ""]
        try:
            probe = subprocess.run(
                command,
                env=_ENV,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=30,
                preexec_fn=functools.partial(_limit, SandboxLimits(), False),
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            reason = f"bwrap could not run ({exc})"
        else:
            if probe.returncode == 0:
                return "bubblewrap"
            lines = probe.stderr.decode(errors="replace").strip().splitlines() or ["no output"]
            reason = f"bwrap failed here ({lines[-1]})"
    logger.warning(
        "sandboxed code runs as a plain subprocess: %s. Resource limits hold, but the code "
        "can read the user's files and use the network.",
        reason,
    )
    return "process"


async def run_python(
    code: str, limits: SandboxLimits | None = None, *, secret: str | None = None
) -> SandboxResult:
    """Run ``code`` with ``python -I`` in the sandbox; see the module docstring.

    Args:
        code: The program (any text: it goes in through stdin).
        limits: Time, memory, disk and output limits.
        secret: For a harness whose verdict the code it runs must not forge (`CodeTests`):
            the program gets a pipe (file descriptor ``sys.argv[1]``) that stays empty until
            its main process has replaced itself with ``/bin/sh`` (``exec``), and only then
            carries ``secret`` and a newline, so no Python code of the run can read it; what
            the program writes to the descriptor ``sys.argv[2]`` comes back as
            `SandboxResult.report`, and each write is the cue to look at the process. At most
            4096 bytes. (Without ``/proc``, on macOS, the secret is released at the first
            write, unchecked.)
    """
    limits = limits or SandboxLimits()
    isolation = await asyncio.to_thread(sandbox_isolation)
    code_bytes = code.encode("utf-8", errors="replace")
    error = syntax_error(code_bytes)
    if error is not None:  # it would fail before running a line: no process needed
        return SandboxResult(
            ok=False, stdout="", stderr=error + "\n", timed_out=False, returncode=1,
            isolation=isolation,
        )  # fmt: skip
    command = [sys.executable, "-I", "-"]
    if isolation == "bubblewrap":
        command = [*_bubblewrap(limits), *command]
    channel = None if secret is None else _Channel(secret, isolation)
    try:
        if channel is not None:
            command += [str(fd) for fd in channel.child_fds]
        with tempfile.TemporaryDirectory(
            prefix="ponder-sandbox-", ignore_cleanup_errors=True
        ) as folder:
            process = await asyncio.create_subprocess_exec(
                *command,
                cwd=folder,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=_ENV,
                start_new_session=True,
                pass_fds=() if channel is None else channel.child_fds,
                preexec_fn=functools.partial(_limit, limits, _nproc(isolation)),
            )
            if channel is not None:
                channel.started(process.pid)
            out, err, told, timed_out = await _run(process, code_bytes, channel, limits)
    finally:
        if channel is not None:
            channel.close()
    returncode = None if timed_out else process.returncode
    return SandboxResult(
        ok=not timed_out and returncode == 0,
        stdout=out.decode("utf-8", errors="replace"),
        stderr=err.decode("utf-8", errors="replace"),
        timed_out=timed_out,
        returncode=returncode,
        report=told.decode("utf-8", errors="replace"),
        isolation=isolation,
    )


_JUDGED_BYTES = 64_000
"""The longest code `syntax_error` judges; longer code goes to the sandbox as it is."""
_CODING = re.compile(rb"\A(?:[^\n]*\n)?[ \t\f]*#[^\n]*?coding[:=]")
"""An encoding declaration on one of the first two lines (PEP 263)."""


def syntax_error(code: bytes) -> str | None:
    """Return the last line Python prints for ``code`` that does not compile, else ``None``.

    Compiling runs none of the code (the interpreter in the sandbox would stop at the same
    error before its first line): `run_python` answers such code without a process. Code
    this interpreter would not judge the same way is left to the sandbox (``None``): an
    encoding declaration (PEP 263: the interpreter reading stdin decodes it its own way), a
    null byte, code nested too deep to compile here, or more than `_JUDGED_BYTES` (compiled
    on the caller's thread, so kept short). The program's own warnings (``SyntaxWarning``)
    are not shown: they are silenced while it compiles, which touches the process's
    warning filters for that moment (`warnings.catch_warnings` is not thread-safe).

    Example:
        >>> syntax_error(b"print(6 * 7")
        "SyntaxError: '(' was never closed"
        >>> syntax_error(b"print(6 * 7)") is None
        True
    """
    if b"\0" in code or len(code) > _JUDGED_BYTES or _CODING.search(code):
        return None
    try:
        with warnings.catch_warnings():  # a SyntaxWarning is the program's, not ours to show
            warnings.simplefilter("ignore")
            compile(code, "<stdin>", "exec", dont_inherit=True)
    except SyntaxError as exc:
        return traceback.format_exception_only(exc)[-1].strip()[:300]
    except (ValueError, RecursionError, MemoryError):
        return None
    return None


class _Channel:
    """The two pipes of a run given a secret, and its release (see `run_python`)."""

    def __init__(self, secret: str, isolation: Isolation) -> None:
        self.data = secret.encode() + b"\n"
        if len(self.data) > _SECRET_MAX:
            raise ValueError(f"a sandbox secret has at most {_SECRET_MAX - 1} bytes")
        self.isolation = isolation
        secret_in, secret_out = os.pipe()
        report_in, report_out = os.pipe()
        self.child_fds: tuple[int, ...] = (secret_in, report_out)
        self.secret_out: int | None = secret_out
        """Where the secret goes once released (``None`` then)."""
        self.report = open(report_in, "rb", buffering=0)  # noqa: SIM115 - closed in close()
        self.pid: int | None = None

    def started(self, pid: int) -> None:
        """Close the child's ends (it has copies) and note the process that was started."""
        for fd in self.child_fds:
            os.close(fd)
        self.child_fds = ()
        self.pid = pid

    def report_written(self) -> None:
        """Release the secret if the run's main process is the shell now."""
        if self.secret_out is None or self.pid is None:
            return
        main = self.pid if self.isolation == "process" else _child(self.pid)
        if main is not None and _runs(main, _SHELL):
            with contextlib.suppress(OSError):  # the shell is gone already: it gets nothing
                os.write(self.secret_out, self.data)  # fits the empty pipe: does not block
            os.close(self.secret_out)
            self.secret_out = None

    def close(self) -> None:
        """Close what is still open."""
        for fd in self.child_fds:
            os.close(fd)
        if self.secret_out is not None:
            os.close(self.secret_out)
        self.child_fds, self.secret_out = (), None
        self.report.close()


def _child(pid: int) -> int | None:
    """Return the child of ``pid`` (bwrap's: the sandboxed program, run ``--as-pid-1``)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as children:
            found = children.read().split()
    except OSError:
        return None
    return int(found[0]) if found else None


def _runs(pid: int, program: str) -> bool:
    """Return whether process ``pid`` runs ``program`` (True when there is no ``/proc``)."""
    if not os.path.isdir("/proc/self"):
        return True
    try:
        return os.readlink(f"/proc/{pid}/exe") == program
    except OSError:
        return False


_SCRATCH = "/tmp/run"
"""The program's working folder under bubblewrap: empty, in the private /tmp."""


def _bubblewrap(limits: SandboxLimits) -> list[str]:
    """Return the ``bwrap`` command line that runs a program as the module docstring says."""
    size = str(limits.disk_mb * 1024 * 1024)
    # The private /tmp hides whatever the interpreter needs below /tmp (a virtualenv in a
    # checkout there): bind those again on top of it, read-only.
    below_tmp = [f for f in _python_folders() if _within(f, "/tmp")]
    rebinds = [arg for f in below_tmp for arg in ("--ro-bind", os.path.realpath(f), f)]
    return [
        *_bubblewrap_base(),
        "--dev", "/dev", "--size", size, "--tmpfs", "/dev/shm", "--remount-ro", "/dev",
        "--size", size, "--tmpfs", "/tmp", *rebinds, "--dir", _SCRATCH, "--chdir", _SCRATCH,
        "--remount-ro", "/",
    ]  # fmt: skip


@functools.cache
def _bubblewrap_base() -> tuple[str, ...]:
    """Return the namespaces, identity and read-only folders part of the command line."""
    command = [
        shutil.which("bwrap") or "bwrap",
        "--unshare-all", "--unshare-user", "--disable-userns",
        "--uid", "65534", "--gid", "65534", "--cap-drop", "ALL",
        "--die-with-parent", "--new-session", "--as-pid-1",
        "--clearenv", "--setenv", "PATH", _ENV["PATH"],
        "--ro-bind", "/usr", "/usr", "--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache",
    ]  # fmt: skip
    for name in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(name):  # merged /usr: /bin -> usr/bin
            command += ["--symlink", os.readlink(name), name]
        elif os.path.isdir(name):
            command += ["--ro-bind", name, name]
    for folder in _python_folders():
        command += ["--ro-bind", os.path.realpath(folder), folder]
    return tuple(command)


def _python_folders() -> list[str]:
    """Return the folders the interpreter needs (its installation, the virtualenv)."""
    found = {sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix}
    found |= {os.path.realpath(folder) for folder in found}
    found.add(os.path.dirname(os.path.realpath(sys.executable)))
    outer = [f for f in found if not any(_within(f, other) for other in found if other != f)]
    return sorted(f for f in outer if not _within(f, "/usr"))


def _within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def _nproc(isolation: Isolation) -> bool:
    """Return whether ``RLIMIT_NPROC`` limits the run alone (see `SandboxLimits.processes`)."""
    if isolation != "bubblewrap" or os.geteuid() == 0:
        return False
    try:
        major, minor = (int(part) for part in os.uname().release.split(".")[:2])
    except ValueError:
        return False
    return (major, minor) >= (5, 14)


def _limit(limits: SandboxLimits, nproc: bool) -> None:  # pragma: no cover - in the child
    # Only async-signal-safe work here (no imports): the parent may have other threads.
    cpu = max(1, int(limits.seconds) + 1)
    memory = limits.memory_mb * 1024 * 1024
    disk = limits.disk_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (disk, disk))
    if nproc:
        resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes, limits.processes))


async def _run(
    process: asyncio.subprocess.Process,
    code: bytes,
    channel: _Channel | None,
    limits: SandboxLimits,
) -> tuple[bytes, bytes, bytes, bool]:
    """Feed ``code``, collect the outputs, and kill what is left; return them and timed_out."""
    assert process.stdin is not None and process.stdout is not None  # noqa: S101 - PIPEs set
    assert process.stderr is not None  # noqa: S101
    kept = [bytearray(), bytearray(), bytearray()]
    streams = [process.stdout, process.stderr]
    transport = None
    cap = limits.output_bytes
    drains = [asyncio.ensure_future(_drain(s, kept[i], cap)) for i, s in enumerate(streams)]
    if channel is not None:
        reader = asyncio.StreamReader()
        transport, _ = await asyncio.get_running_loop().connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), channel.report
        )
        drains.append(asyncio.ensure_future(_drain(reader, kept[2], cap, channel.report_written)))
    timed_out = False
    try:
        await asyncio.wait_for(_feed_and_wait(process, code), timeout=limits.seconds)
    except (TimeoutError, asyncio.TimeoutError):
        timed_out = True
    finally:
        # Always: the leader's exit leaves its children running (and holding the pipes).
        _kill_group(process.pid)
        await process.wait()
        await asyncio.wait(drains, timeout=_GRACE)
        for drain in drains:
            drain.cancel()
        if transport is not None:
            transport.close()
    return bytes(kept[0]), bytes(kept[1]), bytes(kept[2]), timed_out


async def _feed_and_wait(process: asyncio.subprocess.Process, code: bytes) -> None:
    assert process.stdin is not None  # noqa: S101
    try:
        process.stdin.write(code)
        await process.stdin.drain()
        process.stdin.close()
    except (BrokenPipeError, ConnectionResetError):
        pass  # the program died before reading all of itself: its exit status says why
    await process.wait()


async def _drain(
    stream: asyncio.StreamReader,
    kept: bytearray,
    cap: int,
    written: Callable[[], None] | None = None,
) -> None:
    while chunk := await stream.read(65536):
        if len(kept) < cap:
            kept += chunk[: cap - len(kept)]
        if written is not None:
            written()


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
