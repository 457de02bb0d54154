"""A code-writing agent: best-of-N with the problem's unit tests as the verifier.

For each HumanEval problem, ponder samples candidate functions from the embedded model, runs
each against the problem's tests in the sandbox, and stops at the first one that passes.

Run:  .venv/bin/python examples/code_agent.py [--problems 5] [--n 4]
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

import ponder
from ponder.eval.datasets import Problem, load_dataset
from ponder.verify import CodeTests, extract_code


async def solve_problem(
    problem: Problem, *, n: int, budget: ponder.Budget, model: Any = None
) -> ponder.RunResult:
    """Write a function for one HumanEval problem; its tests are the verifier."""
    tests = CodeTests(problem.tests or "", prelude=problem.prelude)
    return await ponder.asolve(
        problem.question,
        "best-of-n",
        model=model,
        budget=budget,
        verifier=tests,
        extractor=extract_code,
        prompt="code",
        n=n,
        temperature=0.8,
        max_tokens=320,
    )


async def main(problems: int = 5, n: int = 4) -> list[ponder.RunResult]:
    """Run the agent on the first ``problems`` problems and print one line each."""
    results = []
    for problem in load_dataset("humaneval", limit=problems).problems:
        result = await solve_problem(problem, n=n, budget=ponder.Budget(tokens=6000))
        passed = any(c["verdict"] == "accepted" for c in result.candidates)
        print(
            f"{problem.id:<14} {'PASS' if passed else 'fail'}  "
            f"{len(result.candidates)} candidates, {result.usage.tokens} tokens, "
            f"{result.wall_seconds:.1f} s"
        )
        results.append(result)
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", type=int, default=5)
    parser.add_argument("-n", type=int, default=4)
    args = parser.parse_args()
    asyncio.run(main(args.problems, args.n))
