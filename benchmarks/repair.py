"""Repairing the arithmetic a solution states: what it does to greedy decoding and the votes.

On the stored held-in samples of `benchmarks/confidence.py` and `benchmarks/agreement.py`
(arithmetic and AddSub; for every problem one greedy answer, 8 samples at T = 0.7 and 4
programs; tune and report splits by a hash of the question), every answer is extracted
twice from the same stored text: with `ponder.verify.extract_number` (as the samples were
scored when drawn) and with `ponder.verify.extract_repaired_number` (ponder's default
extractor: the number after `ponder.verify.repair_arithmetic` recomputes every equation the
text states and carries each correction forward). No model call is made and nothing is
fitted: the repair has no parameter, so both splits are reported, with paired bootstrap 95%
intervals over problems.

Run:  .venv/bin/python benchmarks/repair.py      (seconds; no model)
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from confidence import auroc, paired_interval

from ponder.eval.datasets import Problem, load_dataset
from ponder.eval.scorers import score
from ponder.nodes.select import anchored, choose
from ponder.verify import ArithmeticConsistency, extract_number, extract_repaired_number

RESULTS = Path(__file__).parent / "results"
SAMPLES = RESULTS / "agreement-samples-smollm2.json"
"""The stored samples and programs (benchmarks/agreement.py), texts included."""

Row = dict[str, Any]
Extract = Callable[[str], "str | None"]


def pool(row: Row, extract: Extract) -> list[Any]:
    """The row's candidates (greedy first, then the samples, then the programs)."""
    thoughts = [row["greedy"], *row["samples"]]
    made = [
        {"kind": "attempt", "answer": extract(s["text"]), "temperature": 0.0 if i == 0 else 0.7}
        for i, s in enumerate(thoughts)
    ]
    made += [
        {"kind": "program", "answer": p["answer"], "temperature": 0.7} for p in row["programs"]
    ]
    return made


RULES: dict[str, Callable[[list[Any]], str | None]] = {
    "greedy": lambda c: c[0]["answer"],
    "majority of 9 (greedy first)": lambda c: choose(
        "majority", [x for x in c if x["kind"] != "program"]
    )[0],
    "anchored, 4 programs": lambda c: anchored(c),
}


async def main() -> None:
    rows: list[Row] = json.loads(SAMPLES.read_text())
    problems: dict[tuple[str, str], Problem] = {
        (name, p.id): p
        for name in {r["dataset"] for r in rows}
        for p in load_dataset(name).problems
    }
    result: dict[str, Any] = {"rules": {}, "problems": {}}
    for split in ("tune", "report"):
        part = [r for r in rows if r["split"] == split]
        result["problems"][split] = len(part)
        for name, rule in RULES.items():
            right: dict[str, list[int]] = {"plain": [], "repaired": []}
            by_dataset: dict[str, dict[str, list[int]]] = {}
            for row in part:
                problem = problems[(row["dataset"], row["id"])]
                for how, extract in (
                    ("plain", extract_number),
                    ("repaired", extract_repaired_number),
                ):
                    got = int(await score(problem, rule(pool(row, extract))))
                    right[how].append(got)
                    by_dataset.setdefault(row["dataset"], {}).setdefault(how, []).append(got)
            n = len(part)
            result["rules"].setdefault(name, {})[split] = {
                "plain": sum(right["plain"]) / n,
                "repaired": sum(right["repaired"]) / n,
                "repaired_minus_plain": paired_interval(right["repaired"], right["plain"]),
                "by_dataset": {
                    d: {h: sum(v) / len(v) for h, v in hows.items()}
                    for d, hows in by_dataset.items()
                },
            }
    # How often the repair changes an answer, and whether the check flags what it changes.
    changed = fixed = broken = 0
    for row in rows:
        problem = problems[(row["dataset"], row["id"])]
        for sample in [row["greedy"], *row["samples"]]:
            plain, repaired = (
                extract_number(sample["text"]),
                extract_repaired_number(sample["text"]),
            )
            if plain != repaired:
                changed += 1
                was, now = await score(problem, plain), await score(problem, repaired)
                fixed += int(now and not was)
                broken += int(was and not now)
    result["answers_changed"] = {
        "changed": changed,
        "wrong_to_right": fixed,
        "right_to_wrong": broken,
    }
    check = ArithmeticConsistency()
    right_scores, wrong_scores = [], []
    for row in rows:
        if row["split"] != "tune":
            continue
        problem = problems[(row["dataset"], row["id"])]
        for sample in [row["greedy"], *row["samples"]]:
            text = sample["text"]
            ok = await score(problem, extract_repaired_number(text))
            verdict = check(problem.question, {"text": text})
            (right_scores if ok else wrong_scores).append(verdict.score)
    result["check_auroc_after_repair_tune"] = auroc(right_scores, wrong_scores)
    (RESULTS / "repair-smollm2.json").write_text(json.dumps(result, indent=2))
    print_table(result)


def print_table(result: dict[str, Any]) -> None:
    n = result["problems"]
    print(
        f"Stored samples, arithmetic + AddSub (tune {n['tune']}, report {n['report']} problems):\n"
    )
    print("| rule | split | plain | repaired | repaired - plain [95% CI] | arithmetic | addsub |")
    print("|---|---|---|---|---|---|---|")
    for name, splits in result["rules"].items():
        for split, row in splits.items():
            mid, low, high = row["repaired_minus_plain"]
            per = row["by_dataset"]
            cells = [
                f"{per[d]['plain']:.1%} -> {per[d]['repaired']:.1%}"
                for d in ("arithmetic", "addsub")
            ]
            print(
                f"| {name} | {split} | {row['plain']:.1%} | {row['repaired']:.1%} | "
                f"{mid * 100:+.1f} [{low * 100:+.1f}, {high * 100:+.1f}] | "
                f"{cells[0]} | {cells[1]} |"
            )
    a = result["answers_changed"]
    print(
        f"\nanswers changed by the repair (all samples, both splits): {a['changed']}; "
        f"wrong -> right {a['wrong_to_right']}, right -> wrong {a['right_to_wrong']}"
    )
    print(
        f"ArithmeticConsistency AUROC, right vs wrong repaired samples (tune): "
        f"{result['check_auroc_after_repair_tune']:.3f}"
    )


if __name__ == "__main__":
    asyncio.run(main())
