"""The adaptive strategy's fitted policy against every uniform method, on stored samples.

For each held-in set (arithmetic, AddSub, SingleEq, coin flip, ARC-Easy) and each split,
the embedded model draws a pool per problem (`ponder.eval.allocation.adraw_pool`: the
greedy answer, 8 samples at T = 0.7, 4 programs, with confidences and tokens), stored in
``benchmarks/results/allocation-pool-<model>.json`` as it goes (an interrupted run resumes).
Then, on the same samples (paired):

- every uniform action (`ponder.eval.allocation.ACTIONS`: greedy; 3, 5 or 9 answers by
  majority, confidence, or anchored on greedy with 4 programs) on every problem;
- the allocation policy fitted on the **tune** split (`fit_policy`, the most accurate
  within 4x greedy's tokens there), played on the **report** split;

each with its accuracy, its mean tokens (probes, samples and programs, prompts included)
and a paired bootstrap 95% interval against greedy, per set and over all sets. The policy
is compared with the best uniform action that spends no more tokens than it does.

With ``--policy-from M``, the policy fitted on model M's tune pools is played on this
model's report pools (does a policy fitted on one model transfer?); ``--splits report``
then draws only the report pools this needs. ``--write-policy``
writes the fitted policy where ponder reads it (`ponder.nodes.plan.DEFAULT_POLICY`): the
refit command of the shipped policy (``ponder fit-policy`` does the same for any model).

Run:  .venv/bin/python benchmarks/allocation.py [--model smollm2] [--per-split 40]
      (about 25 minutes for the pools of SmolLM2; ``--rescore`` reuses them)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from ponder.eval.allocation import ACTIONS, Outcome, acomplete_pool, fit_policy, play, simulate
from ponder.eval.intervals import paired_interval
from ponder.eval.plot import plot_accuracy_tokens
from ponder.eval.report import wilson_interval
from ponder.models import EmbeddedChatModel
from ponder.nodes.plan import DEFAULT_POLICY, AllocationPolicy

RESULTS = Path(__file__).parent / "results"
DATASETS = ("arithmetic", "addsub", "singleeq", "coin-flip", "arc-easy")


def pool_file(model: str) -> Path:
    return RESULTS / f"allocation-pool-{model}.json"


def draw(
    model_name: str, datasets: list[str], per_split: int, splits: list[str]
) -> list[dict[str, Any]]:
    """Draw (or complete) the stored pools of ``splits`` of ``datasets``."""
    model = EmbeddedChatModel.from_name(model_name)  # type: ignore[arg-type]
    return asyncio.run(
        acomplete_pool(model, datasets, pool_file(model_name), per_split=per_split, splits=splits)
    )


def row_of(name: str, outcomes: list[Outcome], greedy: list[Outcome]) -> dict[str, Any]:
    right = [int(o.right) for o in outcomes]
    return {
        "method": name, "problems": len(outcomes), "accuracy": sum(right) / len(right),
        "tokens": sum(o.tokens for o in outcomes) / len(outcomes),
        "minus_greedy": paired_interval(right, [int(o.right) for o in greedy]),
    }  # fmt: skip


def evaluate(rows: list[dict[str, Any]], policy: AllocationPolicy) -> dict[str, list[Any]]:
    """Per set (and ``all``): every uniform action and the policy, on ``rows``."""
    out: dict[str, list[Any]] = {}
    for dataset in [*sorted({r["dataset"] for r in rows}), "all"]:
        part = [r for r in rows if dataset in ("all", r["dataset"])]
        greedy = [simulate(r, ACTIONS[0], probes=1) for r in part]
        uniform = {action.name: [simulate(r, action) for r in part] for action in ACTIONS}
        table = [row_of("greedy (no probes)", greedy, greedy)]
        table += [row_of(name, outcomes, greedy) for name, outcomes in uniform.items()]
        played = [play(policy, r) for r in part]
        spent = sum(o.tokens for o in played) / len(played)
        affordable = [t for t in table[1:] if t["tokens"] <= spent]
        best = max(affordable, key=lambda t: t["accuracy"], default=None)
        policy_row = row_of("adaptive (fitted policy)", played, greedy)
        if best is not None:
            same = uniform[best["method"]]
            policy_row["best_uniform_within_tokens"] = best["method"]
            policy_row["minus_best_uniform"] = paired_interval(
                [int(o.right) for o in played], [int(o.right) for o in same]
            )
        table.append(policy_row)
        out[dataset] = table
    return out


def print_tables(result: dict[str, Any]) -> None:
    for dataset, table in result["report"].items():
        print(f"\n### {dataset} (report split, {table[0]['problems']} problems)\n")
        print("| method | accuracy | minus greedy [95% CI] | mean tokens (x greedy) |")
        print("|---|---|---|---|")
        base = table[0]["tokens"]
        for t in table:
            mid, low, high = t["minus_greedy"]
            extra = ""
            if "minus_best_uniform" in t:
                m, lo, hi = t["minus_best_uniform"]
                extra = (f" (vs {t['best_uniform_within_tokens']}: "
                         f"{m * 100:+.1f} [{lo * 100:+.1f}, {hi * 100:+.1f}])")  # fmt: skip
            print(f"| {t['method']}{extra} | {t['accuracy']:.1%} | {mid * 100:+.1f} "
                  f"[{low * 100:+.1f}, {high * 100:+.1f}] | {t['tokens']:.0f} "
                  f"({t['tokens'] / base:.1f}x) |")  # fmt: skip


def plot(result: dict[str, Any], path: Path) -> Path:
    """Accuracy against mean tokens on the report split, all sets: one line per select rule
    through its sample counts, greedy and the fitted policy as points."""
    cells = []
    for t in result["report"]["all"]:
        family, _, count = t["method"].partition("@")
        if t["method"].startswith("greedy"):
            family, count = "greedy", ""
        elif t["method"].startswith("adaptive"):
            family, count = "adaptive (fitted policy)", ""
        right = round(t["accuracy"] * t["problems"])
        cells.append({
            "strategy": family, "budget": 0, "relative": f"@{count}" if count else "",
            "accuracy": t["accuracy"], "ci95": wilson_interval(right, t["problems"]),
            "mean_tokens": t["tokens"], "verifier": "none",
        })  # fmt: skip
    problems = result["report"]["all"][0]["problems"]
    title = (f"{result['model']}, report splits of the held-in sets ({problems} problems), "
             f"policy fitted on {result['policy_from']}")  # fmt: skip
    return plot_accuracy_tokens(cells, path, title=title)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--per-split", type=int, default=40)
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--splits", default="tune,report", help="which splits to draw pools of")
    parser.add_argument("--rescore", action="store_true", help="reuse the stored pools")
    parser.add_argument("--policy-from", default=None, help="fit on this model's tune pools")
    parser.add_argument("--write-policy", action="store_true", help="ship the fitted policy")
    args = parser.parse_args()
    datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
    if args.rescore:
        rows = json.loads(pool_file(args.model).read_text())
    else:
        splits = [s.strip() for s in args.splits.split(",") if s.strip()]
        rows = draw(args.model, datasets, args.per_split, splits)
    rows = [r for r in rows if r["dataset"] in datasets]
    source = args.policy_from or args.model
    fit_rows = rows if source == args.model else json.loads(pool_file(source).read_text())
    tune = [r for r in fit_rows if r["split"] == "tune" and r["dataset"] in datasets]
    report = [r for r in rows if r["split"] == "report"]
    fitted_on = {"datasets": datasets, "split": "tune", "problems": len(tune)}
    policy, curve = fit_policy(tune, model=source, fitted_on=fitted_on)
    result = {
        "model": args.model, "policy_from": source, "policy": policy.to_dict(),
        "tune_curve": [{k: v for k, v in c.items() if k != "policy"} for c in curve],
        "tune": evaluate(tune, policy), "report": evaluate(report, policy),
    }  # fmt: skip
    suffix = args.model if source == args.model else f"{args.model}-policy-{source}"
    (RESULTS / f"allocation-{suffix}.json").write_text(json.dumps(result, indent=2))
    print("policy:", json.dumps(policy.to_dict()["bins"]))
    print_tables(result)
    print(f"\nplot: {plot(result, RESULTS / f'allocation-{suffix}.png')}", file=sys.stderr)
    if args.write_policy:
        policy.dump(DEFAULT_POLICY)
        print(f"\nwrote {DEFAULT_POLICY}", file=sys.stderr)


if __name__ == "__main__":
    main()
