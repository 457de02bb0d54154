from __future__ import annotations

import pytest

from ponder.verify import CodeTests, MathAnswer, extract_code, math_equal, outcome_verifier
from ponder.verify.sandbox import SandboxLimits
from ponder.verify.verifier import run_verifier


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("```python\ndef f():\n    return 1\n```", "def f():\n    return 1"),
        ("def f(): return 2", "def f(): return 2"),
        ("I think the answer is a function.", None),
        ("", None),
    ],
)
def test_extract_code(text: str, code: str | None) -> None:
    assert extract_code(text) == code


async def test_code_tests_pass_and_fail() -> None:
    tests = CodeTests("assert add(2, 3) == 5\nassert add(-1, 1) == 0")
    assert (await tests("", {"answer": "def add(a, b):\n    return a + b"})).score == 1.0
    wrong = await tests("", {"answer": "def add(a, b):\n    return a - b"})
    assert wrong.score == 0.0 and "AssertionError" in (wrong.reason or "")
    assert (await tests("", {"answer": None, "text": "no code"})).reason == "no code to test"


async def test_code_that_loops_or_allocates_is_stopped() -> None:
    tests = CodeTests("f()", limits=SandboxLimits(seconds=0.5, memory_mb=256))
    looping = await tests("", {"answer": "def f():\n    while True:\n        pass"})
    assert looping.score == 0.0 and "did not finish" in (looping.reason or "")
    hungry = await tests("", {"answer": "def f():\n    return bytearray(4 * 1024 ** 3)"})
    assert hungry.score == 0.0 and "MemoryError" in (hungry.reason or "")


@pytest.mark.parametrize(
    "ending",
    [
        "import sys\nsys.exit(0)",  # ending the program moves on to the tests
        "if __name__ == '__main__':\n    print(add(1, 2))",
        "for _ in range(20_000):\n    print('x' * 10)",  # past the output limit
        "import asyncio, ctypes",  # stdlib modules that import or build code objects
    ],
)
async def test_a_right_solution_passes_however_it_ends(ending: str) -> None:
    tests = CodeTests(
        "assert add(2, 3) == 5\nif __name__ == '__main__':\n    assert add(1, 1) == 2"
    )
    verdict = await tests("", {"answer": f"def add(a, b):\n    return a + b\n{ending}"})
    assert verdict.score == 1.0, verdict.reason


async def test_code_under_test_cannot_start_programs() -> None:
    tests = CodeTests("assert run() == 0")
    code = "import subprocess\ndef run():\n    return subprocess.run(['true']).returncode"
    verdict = await tests("", {"answer": code})
    assert verdict.score == 0.0 and "subprocess.Popen" in (verdict.reason or "")


@pytest.mark.parametrize(
    ("answer", "expected", "equal"),
    [
        ("0.5", r"\frac{1}{2}", True),
        ("(x-1)(x+1)", "x^2 - 1", True),
        (r"\sqrt{4}", "2", True),
        ("3", r"\frac{1}{2}", False),
        ("nonsense words", "2", False),
    ],
)
def test_math_equivalence(answer: str, expected: str, equal: bool) -> None:
    assert math_equal(answer, expected) is equal
    assert (MathAnswer(expected)("q", {"answer": answer}).score == 1.0) is equal


async def test_outcome_reward_as_verifier() -> None:
    async def reward(problem: str, solution: str) -> float:
        return 0.25

    verdict = await run_verifier(outcome_verifier(reward), "q", {"text": "x"}, timeout=5)
    assert verdict.score == 0.25
