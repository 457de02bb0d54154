"""Code verification: run a candidate program against its tests in the sandbox.

The candidate's code and its tests run in one interpreter (the tests call the candidate's
functions), candidate first, so the candidate could end or rig the program before the tests
run. The verdict is therefore not the exit status but a per-run secret that only the tests
reaching their end can release:

1. The harness reads the secret from a pipe and hands it to the C environment
   (``os.putenv``), where no Python code can read it back (``os.environ`` is a copy taken at
   start-up), then closes the pipe: the candidate never has it.
2. It installs an audit hook (which Python code cannot remove) before the candidate runs. The
   hook lets a new program start only after the tests' own last line ran (the tests are
   compiled with a final ``sys.audit`` call, recognized by its code object and line), and
   refuses what could read the secret or bypass the hook: tracing and profiling (which can
   make frames jump), ``gc`` referrer walks, code-object construction, ctypes, cffi, Tk,
   sub-interpreters, the test extension modules, native modules from outside the Python
   installation, SQLite extensions, and every other way of starting a program (``os.system``,
   ``posix_spawn``, ``subprocess``; ``_posixsubprocess.fork_exec`` is replaced).
3. The candidate runs (a ``SystemExit`` it raises only moves on to the tests), the builtins
   are restored, the tests run, and the harness then ``exec``-s ``/bin/sh`` to print the
   secret from its environment to the report pipe, which is not the candidate's stdout.

So a wrong solution scores 0 whatever exit path it takes (``os._exit(0)``, ``SystemExit``,
``sys.excepthook``, ``atexit``, a thread), whatever it prints or writes to any descriptor,
and whatever builtins it replaces. Not covered: a solution whose values fool the tests'
comparisons (an object whose ``__eq__`` is always true, a monkeypatched module the tests
use) passes, as it would anywhere; native code that reads raw memory (crafted ``marshal``
data, a third-party extension such as numpy's ``__array_interface__``) can find the secret;
on Python 3.13 and later, a signal handler can rewrite the hook's variables through
``frame.f_locals``; and under ``"process"`` isolation a program can read its own memory
through ``/proc`` (`ponder.verify.sandbox` has no ``/proc`` under bubblewrap). Tests that end
the program themselves (``sys.exit``, ``unittest.main()`` without ``exit=False``) count as
failing. Code under test cannot start programs or use ctypes.

Example:
    >>> import asyncio
    >>> tests = CodeTests("assert add(2, 3) == 5")
    >>> code = "def add(a, b): return a + b"
    >>> asyncio.run(tests("write add", {"text": code, "answer": code})).score
    1.0
"""

from __future__ import annotations

import re
import secrets
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ponder.verify.sandbox import SandboxLimits, run_python
from ponder.verify.verifier import Verdict

__all__ = ("CodeTests", "extract_code")

_CODE_BLOCK = re.compile(r"```(?:python|py)?\s*\n(.*?)(?:```|$)", re.DOTALL)

_DENIED_EVENTS = (
    "code.__new__", "gc.get_objects", "gc.get_referents", "gc.get_referrers", "os.posix_spawn",
    "os.system", "pty.spawn", "sqlite3.enable_load_extension", "sqlite3.load_extension",
    "subprocess.Popen", "sys._current_exceptions", "sys._current_frames", "sys.addaudithook",
    "sys.monitoring.register_callback", "sys.setprofile", "sys.settrace",
)  # fmt: skip
"""Audit events the code under test may not raise (``ctypes.*`` too)."""
_DENIED_MODULES = (
    "_cffi_backend", "_ctypes", "_interpchannels", "_interpqueues", "_interpreters",
    "_posixsubprocess", "_testbuffer", "_testcapi", "_testclinic", "_testimportmultiple",
    "_testinternalcapi", "_testmultiphase", "_testsinglephase", "_tkinter", "_xxinterpchannels",
    "_xxsubinterpreters", "cffi", "ctypes",
)  # fmt: skip
"""Modules it may not import (a name is refused when any dotted part is one of these)."""
_TRUSTED = tuple(
    sorted(
        {"/usr/"}
        | {
            folder.rstrip("/") + "/"
            for folder in (sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix)
        }
    )
)
"""Folders native modules may be loaded from (the sandbox runs this same interpreter)."""

_HARNESS = '''\
import builtins, os, sys, _posixsubprocess


def _refuse(*args, **kwargs):
    raise PermissionError("code under test cannot start programs")


_posixsubprocess.fork_exec = _refuse  # subprocess's way to start a program: no audit event


def _guard(tests, last):
    getframe = sys._getframe
    passed = False

    def hook(event, args):
        nonlocal passed
        if event == "ponder.tests.passed":
            frame = getframe(1)
            if frame.f_code is tests and frame.f_lineno == last:
                passed = True
        elif event == "os.exec":
            if not passed:
                raise PermissionError("code under test cannot start programs")
        elif event == "import":
            name, path = args[0], args[1]
            if type(name) is not str or any(part in {modules} for part in name.split(".")):
                raise ImportError(f"code under test cannot import {{name!r}}")
            if path is not None and (
                type(path) is not str or not path.startswith({trusted}) or "/../" in path
            ):
                raise ImportError(f"code under test cannot load native code from {{path!r}}")
        elif event in {events} or event.startswith("ctypes."):
            raise PermissionError(f"code under test cannot use {{event}}")

    return hook


def _main():
    secret_fd, report_fd = int(sys.argv[1]), int(sys.argv[2])
    sys.argv[:] = ["-"]
    secret = b""
    while chunk := os.read(secret_fd, 4096):
        secret += chunk
    os.close(secret_fd)
    os.putenv("PONDER_VERDICT", secret)  # only a new program can read it back
    del secret, chunk
    candidate = compile({candidate}, "<candidate>", "exec", dont_inherit=True, optimize=0)
    source = {tests} + "\\n__import__('sys').audit('ponder.tests.passed')\\n"
    tests = compile(source, "<tests>", "exec", dont_inherit=True, optimize=0)
    sys.addaudithook(_guard(tests, source.count("\\n")))
    module = type(sys)("__main__")
    sys.modules["__main__"] = module
    namespace, table, saved = module.__dict__, builtins.__dict__, dict(builtins.__dict__)
    namespace["__builtins__"] = builtins
    run, leave, dup2, execv = exec, SystemExit, os.dup2, os.execv
    try:
        run(candidate, namespace)
    except leave:
        pass  # the candidate ending the program does not skip its tests
    table.clear()
    table.update(saved)
    namespace["__builtins__"] = builtins
    run(tests, namespace)
    dup2(report_fd, 1)
    execv("/bin/sh", ["sh", "-c", 'printf "%s\\\\n" "$PONDER_VERDICT"'])


_main()
'''
"""The program run in the sandbox; see the module docstring."""


def extract_code(text: str) -> str | None:
    """Return the Python code in a reply: its first fenced block, else the reply if it parses.

    Used as the answer extractor for code problems; ``None`` when there is no code.
    """
    found = _CODE_BLOCK.search(text)
    code = (found.group(1) if found else text).strip()
    if not code:
        return None
    try:
        compile(code, "<candidate>", "exec")
    except (SyntaxError, ValueError):
        return None if not found else code
    return code


def _harness(code: str, tests: str) -> str:
    """Return the sandbox program that runs ``code``, then ``tests`` (module docstring)."""
    return _HARNESS.format(
        candidate=repr(code),
        tests=repr(tests),
        modules=repr(set(_DENIED_MODULES)),
        events=repr(set(_DENIED_EVENTS)),
        trusted=repr(_TRUSTED),
    )


@dataclass(frozen=True, slots=True)
class CodeTests:
    """Accept a candidate whose code passes ``tests`` in the sandbox.

    The verdict cannot be forged by the candidate's exit path or output (module docstring).

    Args:
        tests: Python code that raises (for example an ``assert``) when the candidate is wrong.
        prelude: Code placed before the candidate's (a signature, imports).
        limits: Time and memory limits of the run.
    """

    tests: str
    prelude: str = ""
    limits: SandboxLimits = field(default_factory=lambda: SandboxLimits(seconds=10.0))

    async def __call__(self, problem: str, candidate: Mapping[str, Any], /) -> Verdict:
        """Score 1.0 when the tests pass, else 0.0 with the failure as the reason."""
        code = candidate.get("answer") or extract_code(str(candidate.get("text", "")))
        if not code:
            return Verdict(score=0.0, reason="no code to test")
        secret = secrets.token_hex(16)
        program = _harness(f"{self.prelude}\n{code}", self.tests)
        result = await run_python(program, self.limits, secret=secret)
        if result.ok and secret in result.report.split():
            return Verdict(score=1.0, reason="all tests passed")
        if result.ok:
            return Verdict(score=0.0, reason="tests failed: the code ended the run before them")
        return Verdict(score=0.0, reason=f"tests failed: {result.error}")
