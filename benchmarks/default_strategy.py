"""The default strategy against greedy decoding, end to end, on every held-in set.

For the report split of each held-in set (`benchmarks/confidence.py`'s split: a hash of the
question; nothing here was fitted on it), `ponder.asolve` on the embedded model, with the
dataset's answer extractor (for numbers ponder's default, which repairs the arithmetic a
solution states: `ponder.verify.extract_repaired_number`), runs:

- ``greedy``: one answer at temperature 0 (``max_samples=1, greedy_first=True``);
- ``majority``: self-consistency with a plain majority vote (``select="majority",
  programs=0``: the default before this benchmark);
- ``anchored``: self-consistency with its defaults (``select="anchored", programs=4``, the
  rule and its setting fitted on the tune split of arithmetic and AddSub by
  `benchmarks/agreement.py` and `benchmarks/repair.py`; programs only for number answers);
- ``ranked``: self-consistency choosing by the fitted answer ranker (``select="ranked"``,
  ``programs=4``; the ranker fitted on the tune splits by ``benchmarks/ranker.py``);
- ``adaptive``: the adaptive strategy with its defaults (probes, then the action its
  fitted allocation policy gives the problem's bin: `benchmarks/allocation.py`);
- ``ranked@3+1p``: ``ranked`` with at most three answers and one program
  (``max_samples=3, programs=1``): the setting `benchmarks/ranker.py` chose on SmolLM2's
  tune pools as the best within 4x greedy's tokens.

On the number sets, ``greedy, no repair`` is the same greedy text read by
`ponder.verify.extract_number` (the model's own answer, as ponder read it before the
repair). Every configuration sees the same problems with the same seeds; differences are
paired against greedy with bootstrap 95% intervals over problems. Results are stored per
problem as they come (``benchmarks/results/default-strategy-<model>.json``), so an
interrupted run resumes where it stopped.

Run:  .venv/bin/python benchmarks/default_strategy.py [--model smollm2|gemma3]
          [--per-split 40] [--datasets a,b] [--configs greedy,adaptive]
      (about 40 minutes alone for SmolLM2 on the five sets at 40 problems each)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from confidence import held_in, paired_interval

from ponder.eval.scorers import SCORERS, score
from ponder.models import EmbeddedChatModel
from ponder.verify import extract_number

RESULTS = Path(__file__).parent / "results"
DATASETS = ("arithmetic", "addsub", "singleeq", "coin-flip", "arc-easy")
CONFIGS: dict[str, dict[str, Any]] = {
    "greedy": {"max_samples": 1, "min_samples": 1, "greedy_first": True, "programs": 0,
               "select": "majority"},
    "majority": {"select": "majority", "programs": 0},
    "anchored": {},
    "ranked": {"select": "ranked"},
    "adaptive": {"strategy": "adaptive"},
    "ranked@3+1p": {"select": "ranked", "max_samples": 3, "programs": 1},
}  # fmt: skip
"""The options of each configuration: self-consistency's (``anchored``: its defaults), or
another strategy's with its defaults (``adaptive``: the allocation policy ponder ships,
fitted on the tune splits by ``benchmarks/allocation.py``)."""

PLAIN = "greedy, no repair"


def _costs(result: Any) -> dict[str, Any]:
    return {"tokens": result.usage.tokens, "tokens_out": result.usage.tokens_out,
            "seconds": result.wall_seconds}  # fmt: skip


def results_file(model: str) -> Path:
    return RESULTS / f"default-strategy-{model}.json"


async def run(
    model_name: str, datasets: list[str], configs: list[str], per_split: int,
    stored: dict[str, Any],
) -> None:  # fmt: skip
    """Run ``configs`` on every report problem of ``datasets`` not yet in ``stored``."""
    import ponder

    model = EmbeddedChatModel.from_name(model_name)  # type: ignore[arg-type]
    for dataset in datasets:
        problems = [p for part, p in held_in(dataset, per_split) if part == "report"]
        rows = stored.setdefault(dataset, {})
        for index, problem in enumerate(problems):
            row = rows.setdefault(problem.id, {})
            for name in configs:
                options = CONFIGS[name]
                if name in row:
                    continue
                result = await ponder.asolve(
                    problem.question, model=model, budget={"tokens": 8000},
                    extractor=SCORERS[problem.scorer].extract, **options,
                )  # fmt: skip
                if name == "greedy" and problem.scorer == "number":
                    text = result.candidates[0]["text"] if result.candidates else ""
                    plain = await score(problem, extract_number(text))
                    row[PLAIN] = {**_costs(result), "right": int(plain)}
                row[name] = {**_costs(result), "right": int(await score(problem, result.answer))}
            results_file(model_name).write_text(json.dumps(stored))
            print(f"\r{dataset}: {index + 1}/{len(problems)}", end="", file=sys.stderr, flush=True)
        print(file=sys.stderr)


def table(stored: dict[str, Any], datasets: list[str]) -> list[dict[str, Any]]:
    """One row per dataset and configuration: accuracy, minus greedy, tokens."""
    out = []
    for dataset in datasets:
        rows = [r for r in stored.get(dataset, {}).values() if "greedy" in r]
        if not rows:
            continue
        greedy = [r["greedy"]["right"] for r in rows]
        greedy_tokens = sum(r["greedy"]["tokens"] for r in rows) / len(rows)
        # The configurations run on every problem of the set.
        names = [n for n in [PLAIN, *CONFIGS] if all(n in r for r in rows)]
        for name in names:
            right = [r[name]["right"] for r in rows]
            tokens = sum(r[name]["tokens"] for r in rows) / len(rows)
            out.append({
                "dataset": dataset, "config": name, "problems": len(rows),
                "accuracy": sum(right) / len(rows),
                "minus_greedy": paired_interval(right, greedy),
                "tokens": tokens, "tokens_vs_greedy": tokens / greedy_tokens,
                "tokens_out": sum(r[name]["tokens_out"] for r in rows) / len(rows),
                "seconds": sum(r[name]["seconds"] for r in rows) / len(rows),
            })  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2", choices=("smollm2", "gemma3"))
    parser.add_argument("--per-split", type=int, default=40)
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--configs", default=",".join(CONFIGS), help="which to run")
    parser.add_argument("--rescore", action="store_true", help="only print the stored results")
    args = parser.parse_args()
    datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
    configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    if unknown := set(configs) - set(CONFIGS):
        parser.error(f"unknown configurations {sorted(unknown)}; known: {list(CONFIGS)}")
    out = results_file(args.model)
    stored = json.loads(out.read_text()) if out.exists() else {}
    if not args.rescore:
        asyncio.run(run(args.model, datasets, configs, args.per_split, stored))
    rows = table(stored, datasets)
    out.with_name(f"{out.stem}-table.json").write_text(json.dumps(rows, indent=2))
    print("| dataset | configuration | accuracy | minus greedy [95% CI] | tokens (x greedy) "
          "| output tokens | s / problem |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        mid, low, high = r["minus_greedy"]
        print(
            f"| {r['dataset']} ({r['problems']}) | {r['config']} | {r['accuracy']:.1%} | "
            f"{mid * 100:+.1f} [{low * 100:+.1f}, {high * 100:+.1f}] | {r['tokens']:.0f} "
            f"({r['tokens_vs_greedy']:.1f}x) | {r['tokens_out']:.0f} | {r['seconds']:.1f} |"
        )


if __name__ == "__main__":
    main()
