"""Print the problem `make demo` solves, chosen from measured data (never hard-coded).

It reads `benchmarks/results/default-strategy-smollm2.json` (written by
`benchmarks/default_strategy.py`: every held-in report problem solved by greedy decoding
and by the default strategy, on the embedded model) and picks, among the number problems
where greedy decoding was wrong and the default strategy right, the one the default
strategy solved with the fewest tokens (ties: dataset, then id order). It prints the
question on the first line and the expected answer on the second. When the file is missing
or no problem qualifies, it prints nothing and exits with status 1.

Run:  .venv/bin/python scripts/demo_problem.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ponder.eval.datasets import load_dataset

RESULTS = Path(__file__).resolve().parent.parent / "benchmarks/results"
STORED = RESULTS / "default-strategy-smollm2.json"


def main() -> int:
    """Print the demo problem and its answer; 1 when none qualifies."""
    if not STORED.exists():
        return 1
    stored = json.loads(STORED.read_text())
    fixed = []
    for dataset, rows in sorted(stored.items()):
        for problem_id, row in rows.items():
            greedy, default = row.get("greedy"), row.get("anchored")
            if greedy and default and not greedy["right"] and default["right"]:
                fixed.append((default["tokens"], dataset, problem_id))
    problems = {}
    for _tokens, dataset, problem_id in sorted(fixed):
        if dataset not in problems:
            problems[dataset] = {p.id: p for p in load_dataset(dataset).problems}
        problem = problems[dataset][problem_id]
        if problem.scorer == "number":
            print(problem.question.replace("\n", " "))
            print(problem.answer)
            return 0
    return 1


if __name__ == "__main__":
    sys.exit(main())
