r"""Run untrusted Python (model-written programs, code under test) in a limited subprocess.

The code runs in a fresh interpreter (``python -I``: no user site, no environment
variables, no current directory on the path) inside an empty temporary directory, with limits
on CPU seconds, wall seconds, address space and output size. A program that loops, allocates
without bound or prints forever is stopped and reported, never waited on.

This is a resource sandbox, not a security boundary against a hostile author: the program can
still read files the user can read. It is meant for code written by a model for the problem
at hand, as program-aided reasoning and code verification need.

Example:
    >>> import asyncio
    >>> asyncio.run(run_python("print(6 * 7)")).stdout
    '42\n'
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import tempfile
from dataclasses import dataclass

__all__ = ("SandboxLimits", "SandboxResult", "run_python")


@dataclass(frozen=True, kw_only=True, slots=True)
class SandboxLimits:
    """Limits for one sandboxed run."""

    seconds: float = 5.0
    """Wall-clock seconds before the process is killed."""
    memory_mb: int = 512
    """Address-space limit, in MiB."""
    output_bytes: int = 64_000
    """Most bytes of stdout and of stderr kept."""


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


def _limit(memory_mb: int, cpu_seconds: int) -> None:  # pragma: no cover - runs in the child
    import resource

    memory = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    os.setsid()


async def run_python(code: str, limits: SandboxLimits | None = None) -> SandboxResult:
    """Run ``code`` with ``python -I`` in a limited subprocess; see the module docstring."""
    limits = limits or SandboxLimits()
    cpu = max(1, int(limits.seconds) + 1)
    with tempfile.TemporaryDirectory(prefix="ponder-sandbox-") as folder:
        # The code goes in through stdin ("-"), so any text, NUL bytes included, is accepted.
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-I",
            "-",
            cwd=folder,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={"PATH": os.defpath, "PYTHONHASHSEED": "0"},
            preexec_fn=lambda: _limit(limits.memory_mb, cpu),
        )
        timed_out = False
        try:
            out, err = await asyncio.wait_for(
                _read(process, code.encode("utf-8", errors="replace"), limits.output_bytes),
                timeout=limits.seconds,
            )
        except (TimeoutError, asyncio.TimeoutError):
            timed_out = True
            out, err = b"", b""
        finally:
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, 9)
                await process.wait()
    returncode = None if timed_out else process.returncode
    return SandboxResult(
        ok=not timed_out and returncode == 0,
        stdout=out.decode("utf-8", errors="replace"),
        stderr=err.decode("utf-8", errors="replace"),
        timed_out=timed_out,
        returncode=returncode,
    )


async def _read(process: asyncio.subprocess.Process, code: bytes, cap: int) -> tuple[bytes, bytes]:
    assert process.stdin is not None and process.stdout is not None  # noqa: S101 - PIPEs set
    assert process.stderr is not None  # noqa: S101
    try:
        process.stdin.write(code)
        await process.stdin.drain()
        process.stdin.close()
    except (BrokenPipeError, ConnectionResetError):
        pass  # the program died before reading all of itself: its exit status says why

    async def drain(stream: asyncio.StreamReader) -> bytes:
        kept = bytearray()
        while chunk := await stream.read(65536):
            if len(kept) < cap:
                kept += chunk[: cap - len(kept)]
        return bytes(kept)

    out, err = await asyncio.gather(drain(process.stdout), drain(process.stderr))
    await process.wait()
    return out, err
