"""Does the model's own confidence pick better answers than the vote? Paired, on stored samples.

For every problem of a held-in split, the embedded model draws one greedy answer and N
samples (the default few-shot prompt, temperature 0.7, seeds 1..N, in one batched decode),
each with its confidence figures (`ponder.models.confidence`); the samples are stored in a
JSON file, so every selection rule below is scored on the *same* samples (paired).

Selection rules compared: greedy; majority vote; and the confidence votes of
`ponder.nodes.vote` (weighted, filtered, Borda) for each confidence measure and parameter.
The rule and its parameter are chosen on the ``tune`` split and reported on the ``report``
split, never tuned on what is reported. Splits are by a hash of the question
(`ponder.eval.datasets.split_of`: even first byte tune, odd report; ``ponder bench --split``
takes the same). Intervals are paired bootstrap 95% intervals of the difference against the
majority vote (and against greedy), over problems (`ponder.eval.intervals.paired_interval`).

Also reported: the AUROC of each measure for telling right samples from wrong ones, overall
and within problems (pairs of a right and a wrong sample of the same problem), and the cost of
recording confidence (decoding with and without it, side by side).

Early stop (DeepConf's online mode, `SamplingConfig.early_stop`), simulated exactly on the
stored per-token confidences: the first `WARMUP` samples run to their end and set the floor
(`confidence_floor` at share ``keep``); each later sample is cut at the first token (from the
16th) where the mean confidence of its last 16 tokens falls below it, charged the tokens
up to there, and does not vote. (On the model, a cut sample also frees its place in the
batch, which moves the cells of the others' later tokens: their texts would differ slightly
from the stored ones.) ``keep`` is chosen on the tune split (the fewest tokens within one
point of the full vote's accuracy) and reported on the report split. So is self-consistency's
sequential stop (`STOPPING_GRID`: agreement thresholds and posterior levels, simulated on the
samples in their order), fitted on tune the same way.

Run:  .venv/bin/python benchmarks/confidence.py --per-split 60   (about 15 minutes)
      .venv/bin/python benchmarks/confidence.py --samples-file benchmarks/results/\
          confidence-samples-smollm2.json --cost-repeats 0   (seconds: the stored samples)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ponder.eval.allocation import held_in as allocation_held_in
from ponder.eval.datasets import Problem, load_dataset
from ponder.eval.intervals import paired_interval
from ponder.eval.scorers import SCORERS, score
from ponder.graphs.self_consistency import SelfConsistencyConfig, _vote_stop
from ponder.models import EmbeddedChatModel
from ponder.models.confidence import WINDOW
from ponder.nodes.attempt import WARMUP, confidence_floor
from ponder.nodes.select import majority, tally
from ponder.nodes.vote import (
    ConfidenceMeasure,
    borda_by_confidence,
    filtered_by_confidence,
    weighted_by_confidence,
)
from ponder.prompts import FEW_SHOT
from ponder.verify import ArithmeticConsistency

RESULTS = Path(__file__).parent / "results"
MEASURES: tuple[ConfidenceMeasure, ...] = (
    "mean_logprob", "mean_confidence", "tail_confidence", "lowest_group", "self_certainty",
)  # fmt: skip


def held_in(dataset: str, per_split: int) -> list[tuple[str, Problem]]:
    """The first ``per_split`` problems of each held-in split of ``dataset``."""
    return allocation_held_in(load_dataset(dataset).problems, per_split)


async def draw(
    model: EmbeddedChatModel,
    dataset: str,
    per_split: int,
    samples: int,
    max_tokens: int,
    temperature: float = 0.7,
) -> list[dict[str, Any]]:
    problems = held_in(dataset, per_split)
    done = 0

    async def one(part: str, problem: Problem) -> dict[str, Any]:
        nonlocal done
        extract = SCORERS[problem.scorer].extract
        messages = FEW_SHOT.render("chat", problem=problem.question)
        greedy_task = model.ainvoke(messages, max_tokens=max_tokens, temperature=0.0, seed=0)
        sampled_task = model.agenerate_n(
            messages, samples, seeds=list(range(1, samples + 1)), max_tokens=max_tokens,
            temperature=temperature, logprobs=True,
        )  # fmt: skip
        greedy, sampled = await asyncio.gather(greedy_task, sampled_task)
        drawn = []
        for message in [greedy, *sampled]:
            answer = extract(message.text)
            drawn.append({
                "answer": answer, "correct": await score(problem, answer), "text": message.text,
                "confidence": message.response_metadata.get("confidence"),
                "tokens": message.usage_metadata["output_tokens"] if message.usage_metadata else 0,
            })  # fmt: skip
            per_token = message.response_metadata.get("token_logprobs")
            if per_token:  # each token's confidence, for the early-stop simulation
                drawn[-1]["token_confidence"] = [round(-v, 4) for v in per_token["top_logprob"]]
        done += 1
        print(f"\r{dataset}: {done}/{len(problems)}", end="", file=sys.stderr, flush=True)
        return {"dataset": dataset, "split": part, "id": problem.id, "expected": problem.answer,
                "greedy": drawn[0], "samples": drawn[1:]}  # fmt: skip

    rows: list[dict[str, Any]] = []
    for start in range(0, len(problems), 2):  # two problems at a time: 18 sequences a batch
        rows += await asyncio.gather(*(one(*item) for item in problems[start : start + 2]))
    print(file=sys.stderr)
    return rows


Rule = Callable[[list[dict[str, Any]]], str | None]


def _pick(votes: dict[str, float] | None, samples: list[dict[str, Any]]) -> str | None:
    if votes is None:
        votes = dict(tally(samples))  # type: ignore[arg-type]
    return majority(votes)


CHECK = ArithmeticConsistency()


def arithmetic_ok(sample: dict[str, Any]) -> bool | None:
    """Whether a sample's stated arithmetic is right (``None``: no text stored)."""
    if "text" not in sample:
        return None
    return CHECK("", sample).score > 0.0


def checked_majority(samples: list[dict[str, Any]]) -> str | None:
    """The majority among the samples whose arithmetic checks out (all, if none does)."""
    kept = [s for s in samples if arithmetic_ok(s) is not False]
    return majority(dict(tally(kept or samples)))  # type: ignore[arg-type]


def rules() -> dict[str, Rule]:
    found: dict[str, Rule] = {"majority": lambda s: majority(dict(tally(s)))}  # type: ignore[arg-type]
    found["arithmetic-checked majority"] = checked_majority
    for measure in MEASURES:
        for temperature in (0.1, 0.3, 1.0):
            found[f"weighted:{measure}:T={temperature}"] = lambda s, m=measure, t=temperature: (
                _pick(
                    weighted_by_confidence(s, measure=m, temperature=t),
                    s,  # type: ignore[arg-type]
                )
            )
        for keep in (0.25, 0.5, 0.75):
            found[f"filtered:{measure}:keep={keep}"] = lambda s, m=measure, k=keep: _pick(
                filtered_by_confidence(s, measure=m, keep=k),
                s,  # type: ignore[arg-type]
            )
        found[f"borda:{measure}"] = lambda s, m=measure: _pick(
            borda_by_confidence(s, measure=m),
            s,  # type: ignore[arg-type]
        )
    return found


def correct(row: dict[str, Any], answer: str | None) -> bool:
    for sample in [row["greedy"], *row["samples"]]:
        if sample["answer"] == answer and answer is not None:
            return bool(sample["correct"])
    return False


POOLS = ("sampled", "greedy_first")
"""Which k samples a rule votes over: k sampled ones, or the greedy one and k - 1 sampled."""


def pool(row: dict[str, Any], name: str, k: int) -> list[dict[str, Any]]:
    if name == "greedy_first":
        return [row["greedy"], *row["samples"][: k - 1]]
    return list(row["samples"][:k])


def accuracy(rows: Sequence[dict[str, Any]], rule: Rule, k: int, pool_name: str) -> list[int]:
    return [int(correct(r, rule(pool(r, pool_name, k)))) for r in rows]


def named(name: str) -> tuple[str, str]:
    """(pool, rule) of a name ``pool/rule``."""
    pool_name, _, rule = name.partition("/")
    return pool_name, rule


def auroc(positive: list[float], negative: list[float]) -> float | None:
    if not positive or not negative:
        return None
    wins = sum((p > q) + 0.5 * (p == q) for p in positive for q in negative)
    return wins / (len(positive) * len(negative))


def within_auroc(rows: Sequence[dict[str, Any]], measure: str) -> float | None:
    wins = total = 0.0
    for row in rows:
        right = [
            s["confidence"][measure] for s in row["samples"] if s["correct"] and s["confidence"]
        ]
        wrong = [s["confidence"][measure] for s in row["samples"]
                 if not s["correct"] and s["confidence"]]  # fmt: skip
        for p in right:
            for q in wrong:
                wins += (p > q) + 0.5 * (p == q)
                total += 1
    return wins / total if total else None


def cost(model: EmbeddedChatModel, repeats: int) -> dict[str, float]:
    """Decode 8 samples with confidence recorded, and without (side by side, alternating)."""
    from ponder.models import _batch

    messages = FEW_SHOT.render("chat", problem="What is 48 + 17?")
    timings: dict[str, list[float]] = {"with": [], "without": []}
    real = _batch.BatchEngine._record
    for _ in range(repeats):
        for mode in ("with", "without"):
            if mode == "without":
                _batch.BatchEngine._record = lambda self, seq, token: None  # type: ignore[method-assign]
            started = time.perf_counter()
            model.generate_n(messages, 8, max_tokens=96, temperature=0.7, seeds=list(range(8)))
            timings[mode].append(time.perf_counter() - started)
            _batch.BatchEngine._record = real  # type: ignore[method-assign]
    with_s, without_s = statistics.median(timings["with"]), statistics.median(timings["without"])
    return {"with_s": with_s, "without_s": without_s, "ratio": with_s / without_s}


STOPPING = {
    "agreement 0.75 (default)": {"stopping": "agreement", "agreement": 0.75},
    "posterior 0.90": {"stopping": "posterior", "posterior": 0.9},
    "posterior 0.95": {"stopping": "posterior", "posterior": 0.95},
}
"""Self-consistency's stopping rules, simulated on the stored samples in their order."""


def simulate(row: dict[str, Any], options: dict[str, Any], pool_name: str, n: int,
             rule: Rule) -> tuple[bool, int, int]:  # fmt: skip
    """(right, samples drawn, output tokens) of self-consistency stopping by ``options``."""
    config = SelfConsistencyConfig(max_samples=n, select="majority", programs=0, **options)
    drawn = pool(row, pool_name, n)
    shaped = [{"kind": "attempt", "temperature": 0.7, **s} for s in drawn]  # as candidates
    for k in range(1, n + 1):
        state: Any = {"candidates": shaped[:k]}
        if _vote_stop(config, state) is not None:
            break
    used = drawn[:k]
    return correct(row, rule(used)), k, sum(s["tokens"] for s in used)


def stopping_report(held: Sequence[dict[str, Any]], n: int, rule: Rule, name: str) -> list[Any]:
    lines = []
    for pool_name in POOLS:
        for label, options in STOPPING.items():
            runs = [simulate(r, options, pool_name, n, rule) for r in held]
            lines.append({
                "pool": pool_name, "stopping": label, "select": name,
                "accuracy": sum(r[0] for r in runs) / len(runs),
                "samples": statistics.mean(r[1] for r in runs),
                "output_tokens": statistics.mean(r[2] for r in runs),
            })  # fmt: skip
    return lines


STOPPING_GRID = [
    *({"stopping": "agreement", "agreement": a, "min_samples": m}
      for a in (0.5, 0.6, 0.67, 0.75) for m in (2, 3, 4)),
    *({"stopping": "posterior", "posterior": p} for p in (0.6, 0.75, 0.9, 0.95)),
]  # fmt: skip
"""Stopping settings tried on the tune split (`fitted_stopping_report`)."""


def fitted_stopping_report(
    tune: Sequence[dict[str, Any]], held: Sequence[dict[str, Any]], n: int, rule: Rule
) -> dict[str, Any]:
    """The sequential stop fitted on tune: the fewest output tokens within one point of the
    full vote of ``n`` samples there; on the report split, against the full vote (paired)."""

    def run(part: Sequence[dict[str, Any]], options: dict[str, Any] | None) -> list[Any]:
        if options is None:  # the full vote: every sample, no stop
            return [(correct(r, rule(pool(r, "sampled", n))), n,
                     sum(s["tokens"] for s in pool(r, "sampled", n))) for r in part]  # fmt: skip
        return [simulate(r, options, "sampled", n, rule) for r in part]

    def summary(runs: list[Any], full: list[Any]) -> dict[str, float]:
        return {"accuracy": sum(r[0] for r in runs) / len(runs),
                "token_ratio": sum(r[2] for r in runs) / sum(r[2] for r in full)}  # fmt: skip

    full_tune = run(tune, None)
    tried = [(options, summary(run(tune, options), full_tune)) for options in STOPPING_GRID]
    tune_full = summary(full_tune, full_tune)["accuracy"]
    close = [(o, t) for o, t in tried if t["accuracy"] >= tune_full - 0.01] or tried
    chosen = min(close, key=lambda pair: pair[1]["token_ratio"])[0]
    full, stopped = run(held, None), run(held, chosen)
    return {
        "chosen": chosen, "tune_full_accuracy": tune_full,
        "full_accuracy": sum(r[0] for r in full) / len(held),
        "stopped_accuracy": sum(r[0] for r in stopped) / len(held),
        "stopped_minus_full": paired_interval([int(r[0]) for r in stopped],
                                              [int(r[0]) for r in full]),
        "token_ratio": summary(stopped, full)["token_ratio"],
        "samples": statistics.mean(r[1] for r in stopped),
    }  # fmt: skip


KEEPS = (0.95, 0.9, 0.75, 0.5, 0.25)
"""Shares of the warm-up samples that the early-stop floor lets pass, tried on the tune split."""


def cut_at(sample: dict[str, Any], floor: float) -> int | None:
    """The token count at which the floor stops ``sample`` (``None``: it runs to its end)."""
    values = sample.get("token_confidence") or []
    running = sum(values[:WINDOW])
    for t in range(WINDOW, len(values)):  # checked after each token before the last
        if running / WINDOW < floor:
            return t
        running += values[t] - values[t - WINDOW]
    return None


def early_stop(row: dict[str, Any], keep: float | None, n: int) -> tuple[bool, int, int]:
    """(right, output tokens, samples stopped) of the majority vote with the online stop."""
    drawn = [dict(s, finish_reason="stop") for s in row["samples"][:n]]
    floor = None if keep is None else confidence_floor(drawn[:WARMUP], keep)  # type: ignore[arg-type]
    voters, tokens, stopped = [], 0, 0
    for index, sample in enumerate(drawn):
        cut = None if floor is None or index < WARMUP else cut_at(sample, floor)
        if cut is None:
            voters.append(sample)
            tokens += sample["tokens"]
        else:
            stopped += 1
            tokens += cut
    return correct(row, majority(dict(tally(voters)))), tokens, stopped  # type: ignore[arg-type]


def early_stop_report(
    tune: Sequence[dict[str, Any]], held: Sequence[dict[str, Any]], n: int
) -> dict[str, Any] | None:
    """Early stop against the full vote of the same samples: keep fitted on tune, paired."""
    if not all("token_confidence" in s for r in [*tune, *held] for s in r["samples"]):
        return None  # samples stored before per-token confidences were

    def run(part: Sequence[dict[str, Any]], keep: float | None) -> list[tuple[bool, int, int]]:
        return [early_stop(r, keep, n) for r in part]

    def by_keep(part: Sequence[dict[str, Any]]) -> tuple[float, dict[float, dict[str, float]]]:
        """The full vote's accuracy on ``part``, and each keep's against it."""
        full = run(part, None)
        lines = {}
        for keep in KEEPS:
            runs = run(part, keep)
            lines[keep] = {
                "accuracy": sum(r[0] for r in runs) / len(part),
                "token_ratio": sum(r[1] for r in runs) / sum(r[1] for r in full),
                "stopped_share": sum(r[2] for r in runs) / (len(part) * max(1, n - WARMUP)),
            }
        return sum(r[0] for r in full) / len(part), lines

    full_accuracy, tried = by_keep(tune)
    close = [k for k in KEEPS if tried[k]["accuracy"] >= full_accuracy - 0.01]
    chosen = min(close, key=lambda k: tried[k]["token_ratio"]) if close else max(KEEPS)
    _, per_keep = by_keep(held)
    full, early = run(held, None), run(held, chosen)
    return {
        "chosen_keep": chosen,
        "tune": {"full_accuracy": full_accuracy, "tried": tried},
        "full_accuracy": sum(r[0] for r in full) / len(held),
        "early_accuracy": sum(r[0] for r in early) / len(held),
        "early_minus_full": paired_interval([int(r[0]) for r in early], [int(r[0]) for r in full]),
        "token_ratio": sum(r[1] for r in early) / sum(r[1] for r in full),
        "report_by_keep": per_keep,
    }


def report(rows: list[dict[str, Any]], samples: int) -> dict[str, Any]:
    out: dict[str, Any] = {"datasets": {}}
    table = rules()
    for dataset in sorted({r["dataset"] for r in rows}):
        tune = [r for r in rows if r["dataset"] == dataset and r["split"] == "tune"]
        held = [r for r in rows if r["dataset"] == dataset and r["split"] == "report"]
        out["datasets"][dataset] = {"tune": len(tune), "report": len(held)}
    tune = [r for r in rows if r["split"] == "tune"]
    held = [r for r in rows if r["split"] == "report"]

    def score_on(part: Sequence[dict[str, Any]], name: str, k: int) -> list[int]:
        pool_name, rule = named(name)
        return accuracy(part, table[rule], k, pool_name)

    names = [f"{p}/{rule}" for p in POOLS for rule in table]
    tune_scores = {name: sum(score_on(tune, name, samples)) / len(tune) for name in names}
    best = max((n for n in names if n != "sampled/majority"), key=lambda n: tune_scores[n])
    greedy = [int(r["greedy"]["correct"]) for r in held]
    lines = []
    for k in (1, 2, 4, samples):
        maj = score_on(held, "sampled/majority", k)
        chosen = score_on(held, best, k)
        vs_maj = paired_interval(chosen, maj)
        vs_greedy = paired_interval(chosen, greedy)
        maj_vs_greedy = paired_interval(maj, greedy)
        lines.append({
            "k": k, "greedy": sum(greedy) / len(held), "majority": sum(maj) / len(held),
            "chosen": sum(chosen) / len(held), "chosen_minus_majority": vs_maj,
            "chosen_minus_greedy": vs_greedy, "majority_minus_greedy": maj_vs_greedy,
            "pass_at_k": sum(any(s["correct"] for s in r["samples"][:k]) for r in held) / len(held),
        })  # fmt: skip
    aurocs = {}
    for measure in MEASURES:
        flat = [s for r in held for s in r["samples"] if s["confidence"]]
        aurocs[measure] = {
            "overall": auroc([s["confidence"][measure] for s in flat if s["correct"]],
                             [s["confidence"][measure] for s in flat if not s["correct"]]),
            "within_problem": within_auroc(held, measure),
        }  # fmt: skip
    flat = [s for r in held for s in r["samples"] if arithmetic_ok(s) is not None]
    if flat:
        aurocs["arithmetic check (label-free verifier)"] = {
            "overall": auroc([float(arithmetic_ok(s) or 0) for s in flat if s["correct"]],
                             [float(arithmetic_ok(s) or 0) for s in flat if not s["correct"]]),
            "within_problem": None,
        }  # fmt: skip
    out.update(chosen_on_tune=best, tune_accuracy=tune_scores, report_rows=lines, auroc=aurocs)
    out["report_accuracy_all_rules"] = {
        name: sum(score_on(held, name, samples)) / len(held) for name in names
    }
    per_dataset = {}
    for dataset in sorted({r["dataset"] for r in held}):
        part = [r for r in held if r["dataset"] == dataset]
        per_dataset[dataset] = {
            "greedy": sum(int(r["greedy"]["correct"]) for r in part) / len(part),
            "majority": sum(score_on(part, "sampled/majority", samples)) / len(part),
            "greedy_first_majority": sum(score_on(part, "greedy_first/majority", samples))
            / len(part),
            "chosen": sum(score_on(part, best, samples)) / len(part),
            "pass_at_n": sum(any(s["correct"] for s in r["samples"]) for r in part) / len(part),
        }
    out["report_by_dataset"] = per_dataset
    out["stopping"] = stopping_report(held, samples, table["majority"], "majority") + (
        stopping_report(held, samples, table[named(best)[1]], named(best)[1])
    )
    out["greedy_output_tokens"] = statistics.mean(r["greedy"]["tokens"] for r in held)
    out["early_stop"] = early_stop_report(tune, held, samples)
    out["stopping_fitted"] = fitted_stopping_report(tune, held, samples, table["majority"])
    return out


def print_report(result: dict[str, Any]) -> None:
    print(f"Rule chosen on the tune split: {result['chosen_on_tune']}")
    print("\n| dataset (report split) | greedy | majority@N | greedy-first majority@N |"
          " chosen@N | pass@N |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for dataset, line in result["report_by_dataset"].items():
        print(f"| {dataset} | {100 * line['greedy']:.1f}% | {100 * line['majority']:.1f}% | "
              f"{100 * line['greedy_first_majority']:.1f}% | {100 * line['chosen']:.1f}% | "
              f"{100 * line['pass_at_n']:.1f}% |")  # fmt: skip
    print("\n| k | greedy | majority | chosen rule | chosen - majority [95% CI] |"
          " chosen - greedy [95% CI] | majority - greedy [95% CI] | pass@k |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for line in result["report_rows"]:

        def fmt(t: Sequence[float]) -> str:
            return f"{100 * t[0]:+.1f} [{100 * t[1]:+.1f}, {100 * t[2]:+.1f}]"

        print(f"| {line['k']} | {100 * line['greedy']:.1f}% | {100 * line['majority']:.1f}% | "
              f"{100 * line['chosen']:.1f}% | {fmt(line['chosen_minus_majority'])} | "
              f"{fmt(line['chosen_minus_greedy'])} | {fmt(line['majority_minus_greedy'])} | "
              f"{100 * line['pass_at_k']:.1f}% |")  # fmt: skip
    print("\n| measure | AUROC right vs wrong (all samples) | AUROC within problems |")
    print("|---|---|---|")
    for measure, values in result["auroc"].items():
        overall, within = values["overall"], values["within_problem"]
        print(f"| {measure} | {overall if overall is None else round(overall, 3)} | "
              f"{within if within is None else round(within, 3)} |")  # fmt: skip
    print(f"\nSelf-consistency stopping rules on the report split (N = {result['samples']}; "
          f"greedy: {result['greedy_output_tokens']:.0f} output tokens):")  # fmt: skip
    print("\n| pool | stopping | select | accuracy | samples | output tokens |")
    print("|---|---|---|---|---|---|")
    for line in result["stopping"]:
        print(f"| {line['pool']} | {line['stopping']} | {line['select']} | "
              f"{100 * line['accuracy']:.1f}% | {line['samples']:.2f} | "
              f"{line['output_tokens']:.0f} |")  # fmt: skip
    fitted = result.get("stopping_fitted")
    if fitted:
        ci = fitted["stopped_minus_full"]
        print(
            f"\nStopping fitted on tune ({fitted['chosen']}): majority "
            f"{100 * fitted['stopped_accuracy']:.1f}% against {100 * fitted['full_accuracy']:.1f}%"
            f" for all {result['samples']} samples (difference {100 * ci[0]:+.1f} "
            f"[{100 * ci[1]:+.1f}, {100 * ci[2]:+.1f}]), {fitted['samples']:.2f} samples, "
            f"{100 * fitted['token_ratio']:.0f}% of the output tokens"
        )
    stop = result.get("early_stop")
    if stop:
        ci = stop["early_minus_full"]
        print(
            f"\nEarly stop (online, simulated on the stored tokens; keep fitted on tune: "
            f"{stop['chosen_keep']}): majority of the samples not stopped "
            f"{100 * stop['early_accuracy']:.1f}% against {100 * stop['full_accuracy']:.1f}% "
            f"for all (difference {100 * ci[0]:+.1f} [{100 * ci[1]:+.1f}, {100 * ci[2]:+.1f}]),"
            f" at {100 * stop['token_ratio']:.0f}% of the output tokens"
        )
        print("\n| keep | accuracy | output tokens vs all | later samples stopped |")
        print("|---|---|---|---|")
        for keep, line in stop["report_by_keep"].items():
            print(f"| {keep} | {100 * line['accuracy']:.1f}% | {100 * line['token_ratio']:.0f}% "
                  f"| {100 * line['stopped_share']:.0f}% |")  # fmt: skip
    if "cost" in result:
        c = result["cost"]
        print(
            f"\nRecording confidence: 8 samples x 96 tokens in {c['with_s']:.2f} s with, "
            f"{c['without_s']:.2f} s without (median; ratio {c['ratio']:.3f})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="arithmetic,addsub")
    parser.add_argument("--per-split", type=int, default=60)
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--samples-file", default=None, help="reuse stored samples (no model)")
    parser.add_argument("--cost-repeats", type=int, default=5)
    parser.add_argument("--temperature", type=float, default=0.7, help="of the N samples")
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    suffix = args.model if args.temperature == 0.7 else f"{args.model}-t{args.temperature:g}"
    store = Path(args.samples_file or RESULTS / f"confidence-samples-{suffix}.json")
    model = None
    if args.samples_file is None:
        model = EmbeddedChatModel.from_name(args.model)
        rows: list[dict[str, Any]] = []
        for dataset in args.datasets.split(","):
            rows += asyncio.run(
                draw(
                    model, dataset, args.per_split, args.samples, args.max_tokens, args.temperature
                )  # fmt: skip
            )
        store.write_text(json.dumps(rows))
    rows = json.loads(store.read_text())
    result = report(rows, args.samples)
    result.update(model=args.model, samples=args.samples, dataset_names=args.datasets.split(","))
    out = RESULTS / f"confidence-{suffix}.json"
    if args.cost_repeats:
        model = model or EmbeddedChatModel.from_name(args.model)
        result["cost"] = cost(model, args.cost_repeats)
    elif out.exists() and "cost" in (before := json.loads(out.read_text())):
        result["cost"] = before["cost"]  # measured before, kept
    result["temperature"] = args.temperature
    out.write_text(json.dumps(result, indent=2))
    print_report(result)


if __name__ == "__main__":
    main()
