"""Code verification: run a candidate program against its tests in the sandbox.

Example:
    >>> import asyncio
    >>> tests = CodeTests("assert add(2, 3) == 5")
    >>> code = "def add(a, b): return a + b"
    >>> asyncio.run(tests("write add", {"text": code, "answer": code})).score
    1.0
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ponder.verify.sandbox import SandboxLimits, run_python
from ponder.verify.verifier import Verdict

__all__ = ("CodeTests", "extract_code")

_CODE_BLOCK = re.compile(r"```(?:python|py)?\s*\n(.*?)(?:```|$)", re.DOTALL)


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


@dataclass(frozen=True, slots=True)
class CodeTests:
    """Accept a candidate whose code passes ``tests`` in the sandbox.

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
        program = f"{self.prelude}\n{code}\n\n{self.tests}\n"
        result = await run_python(program, self.limits)
        if result.ok:
            return Verdict(score=1.0, reason="all tests passed")
        return Verdict(score=0.0, reason=f"tests failed: {result.error}")
