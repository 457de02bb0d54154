"""Program-aided answers as label-free evidence: does a PAL sample's agreement pick the right
chain-of-thought answer, and can a vote that uses it stay at or above greedy?

For every problem of the held-in splits of `benchmarks/confidence.py` (the same problems, the
same stored chain-of-thought samples: one greedy answer and N sampled at T = 0.7), the
embedded model writes M programs with ponder's ``program`` prompt (the first greedy, the rest
sampled), ponder's sandbox runs each, and what it prints is the program's answer. Then, on
the same samples:

- the AUROC of the program agreement of a chain-of-thought sample (the share of the M
  programs that print its answer) for right against wrong samples, on the tune split (a
  verifier below 0.6 is not a default);
- selection rules, each fitted on the tune split and reported on the report split with
  paired bootstrap intervals against greedy: greedy; majority over the chain-of-thought
  samples (greedy first); majority over programs; majority over both; ``agreement`` (the
  chain-of-thought answer most programs agree with, ties to the vote, then greedy); and
  ``anchored`` (greedy, unless at least ``t`` of the M programs print one other answer
  that some chain-of-thought sample also gives: the one setting that can only move away
  from greedy on evidence from two kinds of reasoning; ``t`` fitted on tune).

Then ``--end-to-end`` runs the strategy itself on the report split (ponder.asolve on the
embedded model: no stored samples, early stopping as configured): greedy decoding, the
default self-consistency, and self-consistency with ``select="anchored", programs=4``; the
accuracy and the tokens each spends, paired against greedy.

Run:  .venv/bin/python benchmarks/agreement.py [--programs 4] [--end-to-end]
      (about 5 minutes for the programs, 15 for the end-to-end runs)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from confidence import auroc, held_in

from ponder.eval.intervals import paired_interval
from ponder.eval.scorers import SCORERS, score
from ponder.models import EmbeddedChatModel
from ponder.nodes.metered import program_code
from ponder.nodes.select import anchored as select_anchored
from ponder.prompts import PROGRAM
from ponder.verify.sandbox import run_python

RESULTS = Path(__file__).parent / "results"
SAMPLES = RESULTS / "confidence-samples-smollm2.json"
"""The stored chain-of-thought samples (benchmarks/confidence.py)."""

Row = dict[str, Any]
Rule = Callable[[Row], str | None]


async def draw_programs(rows: list[Row], programs: int, per_split: int) -> list[Row]:
    """Add ``programs`` program-aided answers to each stored row (greedy first)."""
    model = EmbeddedChatModel.from_name("smollm2")
    by_key = {(r["dataset"], r["id"]): r for r in rows}
    problems = {
        (dataset, problem.id): problem
        for dataset in sorted({r["dataset"] for r in rows})
        for _, problem in held_in(dataset, per_split)
    }
    done = 0

    async def one(key: tuple[str, str]) -> None:
        nonlocal done
        problem, row = problems[key], by_key[key]
        extract = SCORERS[problem.scorer].extract
        messages = PROGRAM.render("chat", problem=problem.question)
        greedy = model.ainvoke(messages, max_tokens=160, temperature=0.0, seed=0)
        sampled = model.agenerate_n(
            messages, programs - 1, seeds=list(range(1, programs)), max_tokens=160,
            temperature=0.7,
        )  # fmt: skip
        first, rest = await asyncio.gather(greedy, sampled)
        row["programs"] = []
        for message in [first, *rest]:
            run = await run_python(program_code(message.text))
            answer = extract(run.stdout) if run.ok else None
            row["programs"].append({
                "answer": answer, "correct": await score(problem, answer), "ok": run.ok,
                "text": message.text,
                "tokens": message.usage_metadata["output_tokens"] if message.usage_metadata else 0,
            })  # fmt: skip
        done += 1
        print(f"\rprograms: {done}/{len(problems)}", end="", file=sys.stderr, flush=True)

    keys = [k for k in problems if k in by_key]
    for start in range(0, len(keys), 2):
        await asyncio.gather(*(one(k) for k in keys[start : start + 2]))
    print(file=sys.stderr)
    return [r for r in rows if "programs" in r]


def cot(row: Row) -> list[Row]:
    """The chain-of-thought samples, greedy first."""
    return [row["greedy"], *row["samples"]]


def candidates(row: Row) -> list[Any]:
    """The row's samples as candidates: the greedy one at temperature 0, then the sampled
    ones, then the programs (kind ``program``), as self-consistency would hold them."""
    drawn = [{"kind": "attempt", "answer": row["greedy"]["answer"], "temperature": 0.0}]
    drawn += [
        {"kind": "attempt", "answer": s["answer"], "temperature": 0.7} for s in row["samples"]
    ]
    drawn += [
        {"kind": "program", "answer": p["answer"], "temperature": 0.7} for p in row["programs"]
    ]
    return drawn


def leader(answers: Sequence[str | None]) -> str | None:
    """The most frequent answer, ties to the one seen first (greedy first)."""
    counts = Counter(a for a in answers if a is not None)
    if not counts:
        return None
    best = max(counts.values())
    return next(a for a in answers if a is not None and counts[a] == best)


def agreement(row: Row, answer: str | None) -> float:
    """The share of the row's programs that print ``answer``."""
    programs = row["programs"]
    return sum(p["answer"] == answer for p in programs) / len(programs) if answer else 0.0


def rules(threshold: int) -> dict[str, Rule]:
    def anchored(row: Row) -> str | None:  # the select node's own rule, on the stored pool
        return select_anchored(candidates(row), corroboration=threshold)

    def agreeing(row: Row) -> str | None:
        answers = [s["answer"] for s in cot(row)]
        votes = Counter(a for a in answers if a is not None)
        ranked = [a for a in dict.fromkeys(answers) if a is not None]
        if not ranked:
            return None
        return max(ranked, key=lambda a: (agreement(row, a), votes[a]))

    return {
        "greedy": lambda row: row["greedy"]["answer"],
        "majority (greedy first)": lambda row: leader([s["answer"] for s in cot(row)]),
        "programs: greedy": lambda row: row["programs"][0]["answer"],
        "programs: majority": lambda row: leader([p["answer"] for p in row["programs"]]),
        "majority of both": lambda row: leader(
            [s["answer"] for s in cot(row)] + [p["answer"] for p in row["programs"]]
        ),
        "agreement": agreeing,
        f"anchored t={threshold}": anchored,
    }


def right(row: Row, answer: str | None) -> int:
    pool = cot(row) + row["programs"]
    return int(any(s["answer"] == answer and s["correct"] for s in pool if answer is not None))


def scores(rows: Sequence[Row], rule: Rule) -> list[int]:
    return [right(row, rule(row)) for row in rows]


def report(rows: list[Row], programs: int) -> dict[str, Any]:
    tune = [r for r in rows if r["split"] == "tune"]
    held = [r for r in rows if r["split"] == "report"]
    # The anchor's threshold: the one with the best tune accuracy (ties: the stricter).
    fitted = max(
        range(1, programs + 1),
        key=lambda t: (sum(scores(tune, rules(t)[f"anchored t={t}"])), t),
    )
    table = rules(fitted)
    greedy_held = scores(held, table["greedy"])
    greedy_tune = scores(tune, table["greedy"])
    result: dict[str, Any] = {"programs": programs, "anchor_threshold": fitted, "rules": {}}
    for name, rule in table.items():
        on_held = scores(held, rule)
        diff = paired_interval(on_held, greedy_held)
        result["rules"][name] = {
            "tune": sum(scores(tune, rule)) / len(tune),
            "tune_minus_greedy": (sum(scores(tune, rule)) - sum(greedy_tune)) / len(tune),
            "report": sum(on_held) / len(held),
            "report_minus_greedy": diff,
            "by_dataset": {
                d: sum(scores([r for r in held if r["dataset"] == d], rule))
                / max(1, len([r for r in held if r["dataset"] == d]))
                for d in sorted({r["dataset"] for r in held})
            },
        }
    right_scores, wrong_scores = [], []
    within = []
    for row in tune:
        samples = cot(row)
        for sample in samples:
            target = right_scores if sample["correct"] else wrong_scores
            target.append(agreement(row, sample["answer"]))
        pos = [agreement(row, s["answer"]) for s in samples if s["correct"]]
        neg = [agreement(row, s["answer"]) for s in samples if not s["correct"]]
        if pos and neg:
            within.append(auroc(pos, neg))
    result["auroc_tune"] = auroc(right_scores, wrong_scores)
    result["auroc_within_tune"] = (
        sum(a for a in within if a is not None) / len(within) if within else None
    )
    result["pass_at"] = {
        "cot": sum(any(s["correct"] for s in cot(r)) for r in held) / len(held),
        "programs": sum(any(p["correct"] for p in r["programs"]) for r in held) / len(held),
        "both": sum(any(s["correct"] for s in cot(r) + r["programs"]) for r in held) / len(held),
    }
    result["program_tokens_mean"] = sum(p["tokens"] for r in rows for p in r["programs"]) / max(
        1, sum(len(r["programs"]) for r in rows)
    )
    result["problems"] = {"tune": len(tune), "report": len(held)}
    result["anchored_settings"] = settings(tune, held, programs)
    return result


def settings(tune: list[Row], held: list[Row], programs: int) -> list[dict[str, Any]]:
    """``anchored`` with fewer programs and samples (the first ones of each), every threshold."""

    def first(row: Row, k: int, m: int) -> Row:
        return {**row, "samples": row["samples"][:k], "programs": row["programs"][:m]}

    greedy_tune = scores(tune, rules(1)["greedy"])
    greedy_held = scores(held, rules(1)["greedy"])
    found = []
    for m in range(1, programs + 1):
        for k in (0, 2, 4, 8):
            for t in range(1, m + 1):
                rule = rules(t)[f"anchored t={t}"]
                on_tune = scores([first(r, k, m) for r in tune], rule)
                on_held = scores([first(r, k, m) for r in held], rule)
                tokens = sum(
                    r["greedy"]["tokens"] + sum(s["tokens"] for s in r["samples"][:k])
                    + sum(p["tokens"] for p in r["programs"][:m])
                    for r in held
                ) / len(held)  # fmt: skip
                found.append({
                    "programs": m, "samples": k, "corroboration": t,
                    "tune_minus_greedy": (sum(on_tune) - sum(greedy_tune)) / len(tune),
                    "report_minus_greedy": paired_interval(on_held, greedy_held),
                    "output_tokens": tokens,
                })  # fmt: skip
    return found


def print_settings(result: dict[str, Any]) -> None:
    print("\n`anchored` by programs, samples and corroboration (report - greedy):\n")
    print("| programs | samples | corroboration | tune - greedy | report - greedy [95% CI] | "
          "output tokens |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for row in result["anchored_settings"]:
        mid, low, high = row["report_minus_greedy"]
        print(f"| {row['programs']} | {row['samples']} | {row['corroboration']} | "
              f"{row['tune_minus_greedy'] * 100:+.1f} | {mid * 100:+.1f} [{low * 100:+.1f}, "
              f"{high * 100:+.1f}] | {row['output_tokens']:.0f} |")  # fmt: skip


def print_report(result: dict[str, Any]) -> None:
    n = result["problems"]
    print(
        f"Program agreement as evidence ({result['programs']} programs per problem; tune "
        f"{n['tune']} problems, report {n['report']}; anchor threshold fitted on tune: "
        f"{result['anchor_threshold']})\n"
    )
    print("| rule | tune | tune - greedy | report | report - greedy [95% CI] | "
          "report by dataset |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for name, row in result["rules"].items():
        mid, low, high = row["report_minus_greedy"]
        datasets = ", ".join(f"{d} {v:.1%}" for d, v in row["by_dataset"].items())
        print(
            f"| {name} | {row['tune']:.1%} | {row['tune_minus_greedy'] * 100:+.1f} | "
            f"{row['report']:.1%} | {mid * 100:+.1f} [{low * 100:+.1f}, {high * 100:+.1f}] | "
            f"{datasets} |"
        )
    auc, within = result["auroc_tune"], result["auroc_within_tune"]
    print(
        f"\nAUROC of program agreement, right vs wrong chain-of-thought samples (tune): "
        f"{auc:.3f} (within problems: {within:.3f})"
        if auc is not None
        else ""
    )
    p = result["pass_at"]
    print(
        f"Report split: right answer among the chain-of-thought samples {p['cot']:.1%}, among "
        f"the programs {p['programs']:.1%}, among both {p['both']:.1%}; a program costs "
        f"{result['program_tokens_mean']:.0f} output tokens on average"
    )


END_TO_END: dict[str, dict[str, Any]] = {
    "greedy": {"max_samples": 1, "min_samples": 1, "greedy_first": True},
    "self-consistency (default)": {},
    "anchored, 4 programs": {"select": "anchored", "programs": 4},
}
"""The configurations of the end-to-end comparison (self-consistency options)."""


async def end_to_end(per_split: int) -> dict[str, Any]:
    """Run each configuration on the report split's problems; accuracy and tokens."""
    import ponder

    model = EmbeddedChatModel.from_name("smollm2")
    datasets = sorted({r["dataset"] for r in json.loads(SAMPLES.read_text())})
    problems = [p for d in datasets for part, p in held_in(d, per_split) if part == "report"]
    outcome: dict[str, Any] = {}
    for name, options in END_TO_END.items():
        right, tokens = [], []
        for index, problem in enumerate(problems):
            result = await ponder.asolve(
                problem.question, model=model, budget={"tokens": 8000}, **options
            )
            right.append(int(await score(problem, result.answer)))
            tokens.append(result.usage.tokens_out)
            print(f"\r{name}: {index + 1}/{len(problems)}", end="", file=sys.stderr, flush=True)
        print(file=sys.stderr)
        outcome[name] = {"right": right, "tokens_out": tokens}
    greedy = outcome["greedy"]["right"]
    return {
        "problems": len(problems),
        "rows": {
            name: {
                "accuracy": sum(o["right"]) / len(problems),
                "minus_greedy": paired_interval(o["right"], greedy),
                "output_tokens_mean": sum(o["tokens_out"]) / len(problems),
            }
            for name, o in outcome.items()
        },
    }


def print_end_to_end(result: dict[str, Any]) -> None:
    print(f"\nThe strategy end to end on the report split ({result['problems']} problems, "
          "embedded SmolLM2, early stopping as configured):\n")  # fmt: skip
    print("| configuration | accuracy | minus greedy [95% CI] | output tokens per problem |")
    print("|---|---|---|---|")
    for name, row in result["rows"].items():
        mid, low, high = row["minus_greedy"]
        print(f"| {name} | {row['accuracy']:.1%} | {mid * 100:+.1f} [{low * 100:+.1f}, "
              f"{high * 100:+.1f}] | {row['output_tokens_mean']:.0f} |")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--programs", type=int, default=4)
    parser.add_argument("--per-split", type=int, default=60)
    parser.add_argument("--rescore", action="store_true", help="reuse the stored programs")
    parser.add_argument("--end-to-end", action="store_true", help="run the strategy as well")
    args = parser.parse_args()
    stored = RESULTS / "agreement-samples-smollm2.json"
    if args.rescore and stored.exists():
        rows = json.loads(stored.read_text())
    else:
        rows = asyncio.run(
            draw_programs(json.loads(SAMPLES.read_text()), args.programs, args.per_split)
        )
        slim = [{**r, "samples": [{k: v for k, v in s.items() if k != "token_confidence"}
                                  for s in r["samples"]]} for r in rows]  # fmt: skip
        stored.write_text(json.dumps(slim))
    result = report(rows, args.programs)
    out = RESULTS / "agreement-smollm2.json"
    if args.end_to_end:
        result["end_to_end"] = asyncio.run(end_to_end(args.per_split))
    elif out.exists() and "end_to_end" in (kept := json.loads(out.read_text())):
        result["end_to_end"] = kept["end_to_end"]  # re-scored: keep the last end-to-end run
    out.write_text(json.dumps(result, indent=2))
    print_report(result)
    print_settings(result)
    if "end_to_end" in result:
        print_end_to_end(result["end_to_end"])


if __name__ == "__main__":
    main()
