"""Code verification: run a candidate program against its tests in the sandbox.

The candidate's code and its tests run in one interpreter (the tests call the candidate's
functions), candidate first, so the candidate could end or rig the program before its tests
run. The verdict is therefore not the exit status but a per-run secret that the sandbox
releases only to a shell the harness starts after the tests' last line (see
`ponder.verify.sandbox.run_python`, ``secret=``): no Python code of the run ever holds it.

1. Before the candidate runs, the harness installs an audit hook (Python code cannot remove
   one). It lets a program start (``exec``) only after the tests' own last line has run in
   the candidate's namespace (the tests are compiled, after the candidate has run, with a
   final ``sys.audit`` call the hook recognizes by code object, globals and line), and
   refuses what could get round it: other ways to start programs (``os.system``,
   ``posix_spawn``, ``subprocess``; ``_posixsubprocess.fork_exec``, which raises no audit
   event, is replaced), tracing and profiling (a tracer can make a frame jump), ``gc``
   referrer walks (to the hook's own variables), calls into C through ctypes (importing it
   is fine), cffi, Tk (whose ``exec`` is Tcl's), sub-interpreters (without the hook), the C
   test modules, native modules from outside the Python installation and SQLite extensions.
2. The candidate runs (a ``SystemExit`` it raises moves on to the tests), the builtins are
   restored, and the tests run.
3. The harness then ``exec``-s ``/bin/sh``, which reads the secret from its pipe, released by
   the sandbox once it sees the process running the shell, and prints it to the report pipe
   (not the candidate's stdout, so no output limit cuts it).

So a wrong solution scores 0 whatever exit path it takes (``os._exit(0)``, ``SystemExit``,
``sys.excepthook``, ``atexit``, a thread), whatever it prints or writes to any descriptor,
and whatever builtins it replaces. Not covered: values that fool the tests' comparisons (an
object whose ``__eq__`` is always true, a monkeypatched module the tests use) pass, as they
would anywhere; code that corrupts the interpreter's memory (ctypes pointers, crafted code
objects or ``marshal`` data) can disable the hook; on Python 3.13 and later a signal handler
can rewrite the hook's variables through ``frame.f_locals``; and under ``"process"``
isolation nothing is contained (a program could read the secret in its parent's memory).
Tests that end the program themselves (``sys.exit``, ``unittest.main()`` without
``exit=False``) count as failing, and code under test cannot start programs.

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

from ponder.verify.sandbox import SandboxLimits, run_python, syntax_error
from ponder.verify.verifier import Verdict

__all__ = ("CodeTests", "extract_code")

_CODE_BLOCK = re.compile(r"```(?:python|py)?\s*\n(.*?)(?:```|$)", re.DOTALL)

_DENIED_EVENTS = (
    "gc.get_objects", "gc.get_referents", "gc.get_referrers", "os.posix_spawn",
    "os.system", "pty.spawn", "sqlite3.enable_load_extension", "sqlite3.load_extension",
    "subprocess.Popen", "sys._current_exceptions", "sys._current_frames", "sys.addaudithook",
    "sys.monitoring.register_callback", "sys.setprofile", "sys.settrace",
)  # fmt: skip
"""Audit events the code under test may not raise (nor ``ctypes.*``: calling C functions)."""
_DENIED_MODULES = (
    "_cffi_backend", "_interpchannels", "_interpqueues", "_interpreters",
    "_posixsubprocess", "_testbuffer", "_testcapi", "_testclinic", "_testimportmultiple",
    "_testinternalcapi", "_testmultiphase", "_testsinglephase", "_tkinter", "_xxinterpchannels",
    "_xxsubinterpreters", "cffi",
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

_HARNESS = """\
import builtins, os, sys, _posixsubprocess


def _refuse(*args, **kwargs):
    raise PermissionError("code under test cannot start programs")


_posixsubprocess.fork_exec = _refuse  # subprocess's way to start a program: no audit event


def _main():
    secret_fd, report_fd = int(sys.argv[1]), int(sys.argv[2])
    sys.argv[:] = ["-"]
    getframe, run, leave, dup2, execv = sys._getframe, exec, SystemExit, os.dup2, os.execv
    module = type(sys)("__main__")
    namespace, table, saved = module.__dict__, builtins.__dict__, tuple(builtins.__dict__.items())
    tests, last, passed = None, 0, False  # the hook's state: cells no Python code can reach

    def hook(event, args):
        nonlocal passed
        if event == "ponder.tests.passed":
            frame = getframe(1)
            if frame.f_code is tests and frame.f_globals is namespace and frame.f_lineno == last:
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
        elif event in {events} or (
            event.startswith("ctypes.") and (event != "ctypes.dlopen" or args[0] is not None)
        ):
            raise PermissionError(f"code under test cannot use {{event}}")

    candidate = compile({candidate}, "<candidate>", "exec", dont_inherit=True, optimize=0)
    sys.addaudithook(hook)
    del hook  # the audit hooks are out of Python's reach; this name would not be
    sys.modules["__main__"] = module
    namespace["__builtins__"] = builtins
    try:
        run(candidate, namespace)
    except leave:
        pass  # the candidate ending the program does not skip its tests
    table.clear()
    table.update(saved)
    namespace["__builtins__"] = builtins
    # Compiled only now, so the candidate never held this code object to run on its own.
    source = {tests} + "\\n__import__('sys').audit('ponder.tests.passed')\\n"
    last = source.count("\\n")
    tests = compile(source, "<tests>", "exec", dont_inherit=True, optimize=0)
    run(tests, namespace)
    dup2(secret_fd, 0)
    dup2(report_fd, 1)
    execv("/bin/sh", ["sh", "-c", 'echo; read -r secret; echo "$secret"'])


_main()
"""
"""The program run in the sandbox; see the module docstring."""


def extract_code(text: str) -> str | None:
    """Return the Python code in a reply: its first fenced block, else the reply if it parses.

    Used as the answer extractor for code problems; ``None`` when there is no code.
    """
    found = _CODE_BLOCK.search(text)
    code = (found.group(1) if found else text).strip()
    if not code:
        return None
    if syntax_error(code.encode("utf-8", errors="replace")) is not None:
        return None if not found else code
    return code


def _harness(code: str, tests: str) -> str:
    """Return the sandbox program that runs ``code``, then ``tests`` (module docstring)."""
    return _HARNESS.format(
        candidate=repr(code),
        tests=repr(tests),
        modules=_set_display(_DENIED_MODULES),
        events=_set_display(_DENIED_EVENTS),
        trusted=repr(_TRUSTED),
    )


def _set_display(names: tuple[str, ...]) -> str:
    # A set display of constants: Python compiles ``x in {...}`` to a frozenset constant.
    return "{" + ", ".join(repr(name) for name in sorted(names)) + "}"


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
        if result.ok and result.report.split() == [secret]:  # the shell's words, nobody else's
            return Verdict(score=1.0, reason="all tests passed")
        if result.ok:
            return Verdict(score=0.0, reason="tests failed: the code ended the run before them")
        return Verdict(score=0.0, reason=f"tests failed: {result.error}")
