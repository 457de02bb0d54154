"""The answer ranker against the votes it replaces, on stored samples (paired).

Fits `ponder.nodes.rank.AnswerRanker` on the **tune** split of the stored pools of
``benchmarks/allocation.py`` (`ponder.eval.ranking.fit_ranker`: a logistic model over four
label-free features of each answer, its penalty by cross-validation on tune), then on the
**report** split replays, on the same samples, self-consistency's selection after 2, 3, 5
and 9 chain-of-thought answers (greedy's first; four programs when they could move the
answer, for the rules that read them, as self-consistency draws them): greedy, the majority
vote, the confidence vote, ``ranked`` over the samples alone (no programs: the same samples
as the majority vote), ``anchored``, and ``ranked``. Each with its accuracy, a paired
bootstrap 95% interval against greedy, against ``anchored`` and against the majority vote of
the same samples, and the
mean tokens spent; per set and over all sets; plus the AUROC of the ranker's score for right
against wrong answers of the same problems. Then ``ranked`` under a token cap (`TOKEN_CAP`,
4x greedy's): the (answers, programs) setting that scores best on the tune pools within the
cap, reported per set. ``--ranker-from M`` fits on model M's tune pools
(does a ranker fitted on one model transfer?). ``--write`` ships the fitted ranker
(`ponder.nodes.rank.DEFAULT_RANKER`).

Run:  .venv/bin/python benchmarks/ranker.py [--model smollm2] [--ranker-from smollm2] [--write]
      (seconds: no model call; the pools come from benchmarks/allocation.py)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from allocation import DATASETS, pool_file

from ponder.eval.allocation import is_right, pool_of
from ponder.eval.intervals import paired_interval
from ponder.eval.ranking import PROGRAMS, SAMPLE_COUNTS, fit_ranker
from ponder.nodes.rank import DEFAULT_RANKER, AnswerRanker
from ponder.nodes.select import ConfidenceVote, choose

RESULTS = Path(__file__).parent / "results"
RULES = ("majority", "confidence", "ranked, samples only", "anchored", "ranked")
PROGRAM_RULES = ("anchored", "ranked")
"""The rules self-consistency draws programs for; ``ranked, samples only`` is ``ranked``
with ``programs=0``: a confidence selection over exactly the majority vote's samples."""


def _tokens(row: dict[str, Any], samples: int, pool: list[dict[str, Any]]) -> tuple[int, int]:
    """Tokens in all (prompts included) and output tokens of the draws behind ``pool``."""
    drawn = [row["greedy"], *row["samples"][: samples - 1]]
    drawn += row["programs"][: sum(c["kind"] == "program" for c in pool)]
    return sum(d["tokens_in"] + d["tokens_out"] for d in drawn), sum(d["tokens_out"] for d in drawn)


def auroc(pairs: list[tuple[float, bool]]) -> float | None:
    """The probability that a right answer outscores a wrong one (ties: half)."""
    right = [s for s, ok in pairs if ok]
    wrong = [s for s, ok in pairs if not ok]
    if not right or not wrong:
        return None
    wins = sum((r > w) + 0.5 * (r == w) for r in right for w in wrong)
    return wins / (len(right) * len(wrong))


def evaluate(rows: list[dict[str, Any]], ranker: AnswerRanker) -> dict[str, Any]:
    """Per set (and ``all``), per sample count: each rule's accuracy and tokens."""
    vote = ConfidenceVote(ranker=ranker)
    out: dict[str, Any] = {}
    for dataset in [*sorted({r["dataset"] for r in rows}), "all"]:
        part = [r for r in rows if dataset in ("all", r["dataset"])]
        greedy = [int(r["greedy"]["correct"]) for r in part]
        spent_1 = [_tokens(r, 1, []) for r in part]
        table = [{"rule": "greedy", "samples": 1, "accuracy": sum(greedy) / len(part),
                  "tokens": sum(t for t, _ in spent_1) / len(part),
                  "tokens_out": sum(o for _, o in spent_1) / len(part),
                  "minus_greedy": [0.0, 0.0, 0.0]}]  # fmt: skip
        for samples in SAMPLE_COUNTS:
            picked: dict[str, list[int]] = {}
            spent: dict[str, list[tuple[int, int]]] = {}
            for rule in RULES:
                # Self-consistency draws programs for the rules that read them only.
                programs = PROGRAMS if rule in PROGRAM_RULES else 0
                pools = [pool_of(r, samples, programs=programs) for r in part]
                method = rule.split(",")[0]
                picked[rule] = [int(is_right(r, choose(method, p, vote)[0]))  # type: ignore[arg-type]
                                for r, p in zip(part, pools, strict=True)]  # fmt: skip
                spent[rule] = [_tokens(r, samples, p) for r, p in zip(part, pools, strict=True)]
            for rule in RULES:
                table.append({
                    "rule": rule, "samples": samples, "accuracy": sum(picked[rule]) / len(part),
                    "tokens": sum(t for t, _ in spent[rule]) / len(part),
                    "tokens_out": sum(o for _, o in spent[rule]) / len(part),
                    "minus_greedy": paired_interval(picked[rule], greedy),
                    "minus_anchored": paired_interval(picked[rule], picked["anchored"]),
                    "minus_majority": paired_interval(picked[rule], picked["majority"]),
                })  # fmt: skip
        scored = [(score, is_right(r, answer)) for r in part
                  for answer, score in ranker.scores(pool_of(r, 9, programs=PROGRAMS)).items()]  # type: ignore[arg-type]  # fmt: skip
        out[dataset] = {"table": table, "auroc_9": auroc(scored), "problems": len(part)}
    return out


TOKEN_CAP = 4.0
"""The most tokens, as a multiple of greedy's, a budgeted setting may spend (the issue's 4x)."""
SETTINGS = [(samples, programs) for samples in (2, 3, 5) for programs in (1, 2, 3, 4)]
"""(answers, most programs) pairs tried for ``ranked`` under `TOKEN_CAP`."""


def _ranked(rows: list[dict[str, Any]], vote: ConfidenceVote, samples: int,
            programs: int) -> tuple[list[int], float]:  # fmt: skip
    """Right (1) or not per problem, and tokens as a multiple of greedy's, of one setting."""
    pools = [pool_of(r, samples, programs=programs) for r in rows]
    right = [int(is_right(r, choose("ranked", p, vote)[0]))  # type: ignore[arg-type]
             for r, p in zip(rows, pools, strict=True)]  # fmt: skip
    spent = sum(_tokens(r, samples, p)[0] for r, p in zip(rows, pools, strict=True))
    return right, spent / sum(_tokens(r, 1, [])[0] for r in rows)


def budgeted(tune: list[dict[str, Any]], rows: list[dict[str, Any]],
             ranker: AnswerRanker) -> dict[str, Any]:  # fmt: skip
    """``ranked`` with the (answers, programs) setting that scores best on the ``tune`` pools
    within `TOKEN_CAP` x greedy's tokens there (over all their sets), then per report set."""
    vote = ConfidenceVote(ranker=ranker)
    tried = {}
    for setting in SETTINGS:
        right, ratio = _ranked(tune, vote, *setting)
        tried[setting] = {"accuracy": sum(right) / len(tune), "tokens_x": ratio}
    fits = [setting for setting, line in tried.items() if line["tokens_x"] <= TOKEN_CAP]
    samples, programs = max(fits, key=lambda k: (tried[k]["accuracy"], -tried[k]["tokens_x"]))
    report = {}
    for dataset in [*sorted({r["dataset"] for r in rows}), "all"]:
        part = [r for r in rows if dataset in ("all", r["dataset"])]
        right, ratio = _ranked(part, vote, samples, programs)
        greedy = [int(r["greedy"]["correct"]) for r in part]
        report[dataset] = {"accuracy": sum(right) / len(part), "tokens_x": ratio,
                           "greedy": sum(greedy) / len(part),
                           "minus_greedy": paired_interval(right, greedy)}  # fmt: skip
    return {"token_cap": TOKEN_CAP, "tune": {f"{s}+{p}p": line for (s, p), line in tried.items()},
            "chosen": f"{samples}+{programs}p", "report": report}  # fmt: skip


def _interval(difference: list[float] | None) -> str:
    if difference is None:
        return ""
    mean, low, high = (100 * d for d in difference)
    return f"{mean:+.1f} [{low:+.1f}, {high:+.1f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2", help="whose report pools")
    parser.add_argument("--ranker-from", default=None, help="fit on this model's tune pools")
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--write", action="store_true", help="ship the fitted ranker")
    args = parser.parse_args()
    datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
    source = args.ranker_from or args.model
    fit_rows = [r for r in json.loads(pool_file(source).read_text())
                if r["split"] == "tune" and r["dataset"] in datasets]  # fmt: skip
    rows = [r for r in json.loads(pool_file(args.model).read_text())
            if r["split"] == "report" and r["dataset"] in datasets]  # fmt: skip
    fitted_on = {"datasets": datasets, "split": "tune", "problems": len(fit_rows)}
    ranker = fit_ranker(fit_rows, model=source, fitted_on=fitted_on)
    result = {"model": args.model, "ranker_from": source, "ranker": ranker.to_dict(),
              "report": evaluate(rows, ranker),
              "budgeted": budgeted(fit_rows, rows, ranker)}  # fmt: skip
    suffix = args.model if source == args.model else f"{args.model}-ranker-{source}"
    (RESULTS / f"ranker-{suffix}.json").write_text(json.dumps(result, indent=2))
    print("ranker:", json.dumps(ranker.to_dict()))
    for dataset, part in result["report"].items():
        auc = part["auroc_9"]
        print(f"\n### {dataset} (report split, {part['problems']} problems; AUROC of the "
              f"ranker's score, 9 answers: {'-' if auc is None else f'{auc:.2f}'})\n")  # fmt: skip
        print("| rule | answers | accuracy | minus greedy [95% CI] | minus anchored [95% CI] "
              "| minus majority [95% CI] | mean tokens (x greedy) "
              "| output tokens (x greedy) |")  # fmt: skip
        print("|---|---|---|---|---|---|---|---|")
        base, base_out = part["table"][0]["tokens"], part["table"][0]["tokens_out"]
        for t in part["table"]:
            m, lo, hi = t["minus_greedy"]
            vs, vm = (_interval(t.get(key)) for key in ("minus_anchored", "minus_majority"))
            print(f"| {t['rule']} | {t['samples']} | {t['accuracy']:.1%} | {m * 100:+.1f} "
                  f"[{lo * 100:+.1f}, {hi * 100:+.1f}] | {vs} | {vm} | {t['tokens']:.0f} "
                  f"({t['tokens'] / base:.1f}x) | {t['tokens_out']:.0f} "
                  f"({t['tokens_out'] / base_out:.1f}x) |")  # fmt: skip
    fixed = result["budgeted"]
    print(f"\n### ranked within {TOKEN_CAP:g}x greedy's tokens: {fixed['chosen']} (answers + "
          f"programs), chosen on {source}'s tune pools\n")  # fmt: skip
    print("| set | greedy | ranked | minus greedy [95% CI] | tokens (x greedy) |")
    print("|---|---|---|---|---|")
    for dataset, line in fixed["report"].items():
        print(f"| {dataset} | {line['greedy']:.1%} | {line['accuracy']:.1%} | "
              f"{_interval(line['minus_greedy'])} | {line['tokens_x']:.1f}x |")  # fmt: skip
    if args.write:
        DEFAULT_RANKER.parent.mkdir(parents=True, exist_ok=True)
        ranker.dump(DEFAULT_RANKER)
        print(f"\nwrote {DEFAULT_RANKER}", file=sys.stderr)


if __name__ == "__main__":
    main()
