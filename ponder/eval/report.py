"""Bench reports as plain data, markdown and JSON: pure functions of the stored results.

- `summarize`: per (strategy, budget): accuracy with a Wilson 95% interval, mean tokens,
  mean wall seconds, mean FLOPs (``None`` unless every problem has the estimate), pass@N
  (whether any candidate was right: an oracle measure), and, when the bench ran greedy, the
  accuracy minus greedy's on the same problems with a paired bootstrap 95% interval
  (`ponder.eval.intervals.paired_interval`).
- `against_greedy_markdown`: that comparison for one bench or several (one per dataset):
  greedy's row, then every strategy and budget against it.
- `by_bin`: the same accuracy per difficulty bin: the dataset's own level where it has one
  (MATH-500), else the adaptive strategy's estimate for the problem (easy, medium, hard).
- `compute_optimal`: the tokens each strategy needs to reach an accuracy, interpolated on its
  accuracy-against-tokens curve, and the ratio against uniform best-of-N (Snell et al. 2024,
  "Scaling LLM test-time compute optimally...": compute-optimal allocation about 4x as
  efficient as best-of-N).

Example:
    >>> wilson_interval(8, 10)
    (0.49, 0.943)
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ponder.eval.bench import REFERENCE, REFERENCE_BUDGET, Bench
from ponder.eval.intervals import paired_interval
from ponder.eval.store import ProblemResult

__all__ = (
    "BASELINE",
    "against_greedy_markdown",
    "budget_label",
    "budgets_of",
    "by_bin",
    "command_of",
    "compare_markdown",
    "compute_optimal",
    "interpolate_tokens",
    "markdown",
    "report_data",
    "summarize",
    "wilson_interval",
    "write_report",
)

BASELINE = "best-of-n"
"""The strategy the compute-optimal comparison measures against."""

_Z95 = 1.959964


def wilson_interval(right: int, total: int, z: float = _Z95) -> tuple[float, float]:
    """Return the Wilson score interval of ``right`` successes in ``total`` (95% by default).

    Rounded to three decimals; ``(0.0, 1.0)`` when ``total`` is zero.
    """
    if total == 0:
        return (0.0, 1.0)
    p = right / total
    denominator = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denominator
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denominator
    return (round(max(0.0, centre - half), 3), round(min(1.0, centre + half), 3))


def _cell(results: Sequence[ProblemResult]) -> dict[str, Any]:
    total = len(results)
    right = sum(1 for r in results if r.correct)
    low, high = wilson_interval(right, total)
    known = [r.pass_at_n for r in results if r.pass_at_n is not None]
    flops = [r.flops for r in results if r.flops is not None]
    return {
        "problems": total,
        "correct": right,
        "accuracy": right / total if total else 0.0,
        "ci95": [low, high],
        "mean_tokens": statistics.fmean(r.tokens for r in results) if results else 0.0,
        "mean_seconds": statistics.fmean(r.wall_seconds for r in results) if results else 0.0,
        "mean_flops": statistics.fmean(flops) if flops and len(flops) == total else None,
        "pass_at_n": sum(known) / len(known) if known else None,
        "failed": sum(1 for r in results if r.status in ("failed", "error")),
        "unscored": sum(1 for r in results if r.correct is None),
    }


def _groups(results: Iterable[ProblemResult]) -> dict[tuple[str, int], list[ProblemResult]]:
    groups: dict[tuple[str, int], list[ProblemResult]] = {}
    for result in results:
        groups.setdefault((result.strategy, result.budget), []).append(result)
    return groups


def budgets_of(config: Mapping[str, Any]) -> list[int]:
    """Return a bench's budgets in tokens, ascending.

    Its token counts and its relative budgets as resolved (those not resolved yet are left
    out).
    """
    resolved = config.get("resolved_budgets") or {}
    tokens = {resolved.get(b) if isinstance(b, str) else b for b in config["budgets"]}
    return sorted(b for b in tokens if b is not None)


def _relative(config: Mapping[str, Any]) -> dict[int, str]:
    """Each resolved budget's relative name(s), by its tokens (``{612: "2x"}``)."""
    names: dict[int, list[str]] = {}
    for name, tokens in (config.get("resolved_budgets") or {}).items():
        names.setdefault(tokens, []).append(name)
    return {tokens: "/".join(found) for tokens, found in names.items()}


def budget_label(budget: int, config: Mapping[str, Any]) -> str:
    """Return how a report shows ``budget``.

    ``612 (2x)`` for a relative one, ``1 call`` for greedy's reference runs (one model call,
    no token limit),
    else the token count.
    """
    if budget == REFERENCE_BUDGET:
        return "1 call"
    relative = _relative(config).get(budget)
    return f"{budget} ({relative})" if relative else str(budget)


def _ordered(bench: Bench, groups: Mapping[tuple[str, int], object]) -> list[tuple[str, int]]:
    """The (strategy, budget) keys present, in the bench's order.

    Greedy's reference first, then the strategies, each through its budgets.
    """
    budgets = budgets_of(bench.config)
    order = [(REFERENCE, REFERENCE_BUDGET)]
    order += [(s, b) for s in bench.config["strategies"] if s != REFERENCE for b in budgets]
    return [key for key in [*order, *sorted(set(groups) - set(order))] if key in groups]


def _minus_reference(
    results: Sequence[ProblemResult], reference: Mapping[int, bool]
) -> dict[str, Any] | None:
    """Accuracy minus greedy's on the problems both ran, with its paired 95% interval."""
    pairs = [(bool(r.correct), reference[r.problem_index]) for r in results
             if r.problem_index in reference]  # fmt: skip
    if not pairs:
        return None
    difference, low, high = paired_interval([a for a, _ in pairs], [b for _, b in pairs])
    return {"difference": difference, "ci95": [round(low, 3), round(high, 3)],
            "problems": len(pairs)}  # fmt: skip


def summarize(bench: Bench) -> list[dict[str, Any]]:
    """Return one summary per (strategy, budget), in the bench's order.

    Besides `_cell`'s figures, each names its budget as the report shows it
    (``budget_label``), the relative budget it resolves (``relative``: ``"2x"``, or
    ``None``), and, when the bench ran greedy, its accuracy minus greedy's on the same
    problems (``minus_greedy``: ``difference``, paired bootstrap ``ci95``, ``problems``;
    ``None`` on greedy's own row).
    """
    groups = _groups(bench.results)
    reference = {r.problem_index: bool(r.correct)
                 for r in groups.get((REFERENCE, REFERENCE_BUDGET), [])}  # fmt: skip
    relative = _relative(bench.config)
    cells = []
    for key in _ordered(bench, groups):
        verifiers = sorted({r.verifier for r in groups[key]})
        is_reference = key == (REFERENCE, REFERENCE_BUDGET)
        cells.append(
            {"strategy": key[0], "budget": key[1], "verifier": "/".join(verifiers),
             **_cell(groups[key]), "budget_label": budget_label(key[1], bench.config),
             "relative": relative.get(key[1]),
             "minus_greedy": None if is_reference else _minus_reference(groups[key], reference)}
        )  # fmt: skip
    return cells


def _bin(difficulty: float) -> str:
    if difficulty < 1 / 3:
        return "easy"
    return "medium" if difficulty < 2 / 3 else "hard"


def by_bin(bench: Bench) -> dict[str, Any]:
    """Return accuracy per difficulty bin for each (strategy, budget).

    The bins are the dataset's levels when its problems have one; otherwise the adaptive
    strategy's difficulty estimate for each problem (at the largest budget it ran, where it
    could afford the most probe samples), cut into easy (< 1/3), medium and hard (>= 2/3).
    Without either, there are no bins.
    """
    levels = {r.problem_index: r.level for r in bench.results if r.level is not None}
    source = "dataset level"
    if not levels:
        source = "adaptive difficulty estimate"
        estimates: dict[int, tuple[int, float]] = {}
        for r in bench.results:
            if r.difficulty is not None:
                best = estimates.get(r.problem_index)
                if best is None or r.budget > best[0]:
                    estimates[r.problem_index] = (r.budget, r.difficulty)
        levels = {index: _bin(value) for index, (_, value) in estimates.items()}
    if not levels:
        return {"source": None, "bins": []}
    names = sorted(
        set(levels.values()), key=lambda b: ({"easy": 0, "medium": 1, "hard": 2}.get(b, 3), b)
    )
    rows = []
    groups = _groups(bench.results)
    for strategy, budget in _ordered(bench, groups):
        group = groups[(strategy, budget)]
        for name in names:
            members = [r for r in group if levels.get(r.problem_index) == name]
            if members:
                rows.append({"strategy": strategy, "budget": budget, "bin": name, **_cell(members)})
    return {"source": source, "bins": rows}


def interpolate_tokens(curve: Sequence[tuple[float, float]], accuracy: float) -> float | None:
    """Tokens at which a (tokens, accuracy) curve first reaches ``accuracy``, or None.

    Linear between the best point reached before it and the first point at or above it (a
    dip in the curve is skipped). When the curve's first point is already at or above
    ``accuracy``, that point's tokens (an upper bound: fewer might do).

    Example:
        >>> interpolate_tokens([(100, 0.2), (300, 0.6)], 0.4)
        200.0
    """
    previous: tuple[float, float] | None = None
    for tokens, acc in sorted(curve):
        if acc >= accuracy:
            if previous is None or acc == previous[1]:
                return float(tokens)
            t0, a0 = previous
            return t0 + (accuracy - a0) * (tokens - t0) / (acc - a0)
        if previous is None or acc > previous[1]:
            previous = (tokens, acc)
    return None


def compute_optimal(cells: Sequence[dict[str, Any]], baseline: str = BASELINE) -> dict[str, Any]:
    """Return the tokens each strategy needs to reach each target accuracy, and the ratios.

    Targets are every accuracy some cell reached (above zero). ``ratio`` is the baseline's
    tokens over the strategy's at the same target: above 1 means the strategy gets there
    with fewer tokens than uniform best-of-N. ``median_ratio`` summarizes a strategy over the
    targets both reach.
    """
    curves: dict[str, list[tuple[float, float]]] = {}
    for cell in cells:
        curves.setdefault(cell["strategy"], []).append((cell["mean_tokens"], cell["accuracy"]))
    targets = sorted({round(c["accuracy"], 3) for c in cells if c["accuracy"] > 0})
    rows = []
    for target in targets:
        needed = {name: interpolate_tokens(curve, target) for name, curve in curves.items()}
        base = needed.get(baseline)
        ratios = {
            name: (base / tokens if base is not None and tokens else None)
            for name, tokens in needed.items()
            if name != baseline
        }
        rows.append({"accuracy": target, "tokens": needed, "ratio": ratios})
    medians: dict[str, float | None] = {}
    for name in curves:
        if name == baseline:
            continue
        found = [row["ratio"][name] for row in rows if row["ratio"].get(name) is not None]
        medians[name] = statistics.median(found) if found else None
    baseline_verifiers = {c["verifier"] for c in cells if c["strategy"] == baseline}
    return {
        "baseline": baseline if baseline in curves else None,
        "baseline_verifier": "/".join(sorted(baseline_verifiers)) or None,
        "targets": rows,
        "median_ratio": medians,
    }


def command_of(config: dict[str, Any]) -> str:
    """Return the ``ponder bench`` command that runs (or resumes) a bench with this config."""
    parts = [
        "ponder bench", f"--dataset {config['dataset']}",
        f"--strategies {','.join(config['strategies'])}",
        f"--budgets {','.join(str(b) for b in config['budgets'])}",
    ]  # fmt: skip
    if config.get("split"):
        parts.append(f"--split {config['split']}")
    if config.get("limit"):
        parts.append(f"--limit {config['limit']}")
    if config.get("model"):
        parts.append(f"--model {config['model']}")
    parts.append(f"--seed {config.get('seed', 0)}")
    if str(config["dataset"]).endswith((".jsonl", ".jsonl.gz")):
        parts.append(f"--question-field {config['question_field']}")
        parts.append(f"--answer-field {config['answer_field']}")
    return " ".join(parts)


def report_data(bench: Bench) -> dict[str, Any]:
    """Return the whole report as JSON-ready data."""
    cells = summarize(bench)
    return {
        "bench_id": bench.bench_id,
        "config": bench.config,
        "command": command_of(bench.config),
        "cells": cells,
        "by_bin": by_bin(bench),
        "compute_optimal": compute_optimal(cells),
        "errors": [
            {"strategy": r.strategy, "budget": r.budget, "problem": r.problem_id, "error": r.error}
            for r in bench.results
            if r.error
        ][:50],
    }


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _tokens(value: float | None) -> str:
    return "not reached" if value is None else f"{value:,.0f}"


def _flops(value: float | None) -> str:
    return "-" if value is None else f"{value:.2g}"


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _points(value: float) -> str:
    return f"{value * 100:+.1f}"


def _against_rows(cells: Sequence[dict[str, Any]], dataset: str | None = None) -> list[str]:
    """Greedy's row, then every other cell against it (`against_greedy_markdown`)."""
    if not any(c["strategy"] == REFERENCE for c in cells):
        return []
    lead = f"| {dataset} " if dataset is not None else ""
    lines = []
    for c in cells:
        low, high = c["ci95"]
        minus = c["minus_greedy"]
        if c["strategy"] == REFERENCE and c["budget"] == REFERENCE_BUDGET:
            versus = "(reference)"
        elif minus is None:
            versus = "-"
        else:
            versus = (f"{_points(minus['difference'])} [{_points(minus['ci95'][0])}, "
                      f"{_points(minus['ci95'][1])}]")  # fmt: skip
        lines.append(
            f"{lead}| {c['strategy']} | {c['budget_label']} | {c['problems']} "
            f"| {_pct(c['accuracy'])} | {low:.0%}-{high:.0%} | {versus} "
            f"| {c['mean_tokens']:,.0f} | {c['mean_seconds']:.1f} |"
        )
    return lines


def _against_header(dataset: bool) -> list[str]:
    lead, rule = ("| dataset ", "|---") if dataset else ("", "")
    return [
        f"{lead}| strategy | budget | problems | accuracy | 95% CI "
        "| minus greedy, points [paired 95% CI] | mean tokens | mean s |",
        f"{rule}|---|---|---:|---:|---|---|---:|---:|",
    ]


def against_greedy_markdown(benches: Sequence[Bench]) -> str:
    """Return every strategy and budget against greedy, for one bench or several.

    Per bench (with a dataset column when there are several: one bench per dataset), greedy's
    reference row, then each strategy at each budget: accuracy with its Wilson 95% interval,
    accuracy minus greedy's in points with a paired bootstrap 95% interval over the same
    problems, mean tokens and mean wall seconds per problem. Benches that did not run greedy
    are left out; the text is empty when none did.
    """
    several = len(benches) > 1
    rows: list[str] = []
    for bench in benches:
        rows += _against_rows(summarize(bench), _dataset_name(bench) if several else None)
    return "\n".join([*_against_header(several), *rows]) + "\n" if rows else ""


def _dataset_name(bench: Bench) -> str:
    config = bench.config
    return f"{config['dataset']}" + (f" ({config['split']})" if config.get("split") else "")


def _resolved_lines(config: Mapping[str, Any]) -> list[str]:
    resolved = config.get("resolved_budgets")
    if not resolved:
        return []
    shown = ", ".join(f"{name} = {tokens:,} tokens" for name, tokens in resolved.items())
    return [
        "", f"Relative budgets are multiples of greedy's mean tokens per problem (in + out) on "
        f"these problems, {config['greedy_mean_tokens']:,.1f}: {shown}.",
    ]  # fmt: skip


def _cells_table(cells: Sequence[dict[str, Any]]) -> list[str]:
    lines = [
        "| strategy | budget | verifier | problems | accuracy | 95% CI | mean tokens "
        "| mean s | mean FLOPs | pass@N (oracle) | failed |",
        "|---|---:|---|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for c in cells:
        low, high = c["ci95"]
        lines.append(
            f"| {c['strategy']} | {c['budget_label']} | {c['verifier']} | {c['problems']} "
            f"| {_pct(c['accuracy'])} | {low:.0%}-{high:.0%} | {c['mean_tokens']:,.0f} "
            f"| {c['mean_seconds']:.1f} | {_flops(c.get('mean_flops'))} "
            f"| {_pct(c['pass_at_n'])} | {c['failed']} |"
        )
    return lines


def markdown(data: dict[str, Any], *, plot: str | None = None) -> str:
    """Return the report (`report_data`) as markdown."""
    config = data["config"]
    split = f"{config['split']} split, " if config.get("split") else ""
    lines = [
        f"# ponder bench {data['bench_id']}",
        "",
        f"Dataset `{config['dataset']}` ({split}{config['problems']} problems, scored by "
        f"`{config['scorer']}`); model `{config['model_name']}`; seed {config['seed']}.",
        "",
        f"Reproduce (or resume): `{data['command']}`",
        "",
        "Verifier: `none` = the strategy judged nothing against the answer key; `tests` = the "
        "problem's own tests; `oracle` = the reference answer, so that row's accuracy is "
        "pass@N, an upper bound. pass@N (oracle) = some candidate was right. Budget `1 call`: "
        "greedy's reference runs (one model call, no token limit).",
        *_resolved_lines(config),
        "",
        *_cells_table(data["cells"]),
    ]
    against = _against_rows(data["cells"])
    if against:
        lines += ["", "## Against greedy", "",
                  "Accuracy minus greedy's on the same problems, in points, with a paired "
                  "bootstrap 95% interval.", "", *_against_header(False), *against]  # fmt: skip
    bins = data["by_bin"]
    if bins["bins"]:
        lines += [
            "", f"## By difficulty ({bins['source']})", "",
            "| strategy | budget | bin | problems | accuracy | 95% CI | mean tokens |",
            "|---|---:|---|---:|---:|---|---:|",
        ]  # fmt: skip
        for row in bins["bins"]:
            low, high = row["ci95"]
            lines.append(
                f"| {row['strategy']} | {budget_label(row['budget'], config)} | {row['bin']} "
                f"| {row['problems']} "
                f"| {_pct(row['accuracy'])} | {low:.0%}-{high:.0%} | {row['mean_tokens']:,.0f} |"
            )
    lines += _optimal_lines(data["compute_optimal"])
    if plot:
        lines += ["", f"![accuracy against tokens]({plot})"]
    if data["errors"]:
        lines += ["", "## Errors", ""]
        lines += [
            f"- {e['strategy']} @ {e['budget']}, problem {e['problem']}: {e['error']}"
            for e in data["errors"]
        ]
    return "\n".join(lines) + "\n"


def _optimal_lines(optimal: dict[str, Any]) -> list[str]:
    baseline = optimal["baseline"]
    if baseline is None or not optimal["targets"]:
        return []
    names = list(optimal["targets"][0]["tokens"])
    others = [n for n in names if n != baseline]
    note = (
        " Best-of-N ran with the oracle verifier here, which makes it a strong baseline."
        if "oracle" in (optimal["baseline_verifier"] or "")
        else ""
    )
    lines = [
        "",
        "## Compute-optimal comparison",
        "",
        "Tokens per problem each strategy needs to reach an accuracy (linear interpolation on "
        f"its accuracy-against-tokens curve); ratio = {baseline} tokens / strategy tokens "
        f"(above 1: fewer tokens than uniform {baseline}).{note}",
        "",
        "| accuracy | " + " | ".join(f"{n} tokens" for n in names)
        + "".join(f" | ratio {n}" for n in others) + " |",
        "|---:|" + "---:|" * (len(names) + len(others)),
    ]  # fmt: skip
    for row in optimal["targets"]:
        tokens = " | ".join(_tokens(row["tokens"][n]) for n in names)
        ratios = "".join(f" | {_ratio(row['ratio'][n])}" for n in others)
        lines.append(f"| {row['accuracy']:.0%} | {tokens}{ratios} |")
    medians = ", ".join(f"{n} {_ratio(v)}" for n, v in optimal["median_ratio"].items())
    lines += ["", f"Median ratio against {baseline}: {medians}."]
    return lines


def compare_markdown(benches: Sequence[Bench]) -> str:
    """Return stored benches side by side: accuracy (mean tokens) per strategy and budget.

    A relative budget's rows line up by its name (``2x``), whatever it resolved to in each
    bench; with greedy in a bench, its cells add the accuracy minus greedy's, in points.
    """
    summaries = [
        {(c["strategy"], c["relative"] or c["budget_label"]): c for c in summarize(b)}
        for b in benches
    ]
    keys: list[tuple[str, str]] = []
    for summary in summaries:
        keys += [key for key in summary if key not in keys]
    header = [
        f"{b.bench_id} ({b.config['dataset']}, {b.config['model_name']}, "
        f"{b.config['problems']} problems)"
        for b in benches
    ]
    lines = [
        "| strategy | budget | " + " | ".join(header) + " |",
        "|---|---:|" + "---|" * len(benches),
    ]
    for strategy, budget in keys:
        row = []
        for summary in summaries:
            c = summary.get((strategy, budget))
            minus = None if c is None else c["minus_greedy"]
            versus = "" if minus is None else f", {_points(minus['difference'])} vs greedy"
            row.append(
                "-" if c is None
                else f"{_pct(c['accuracy'])} ({c['mean_tokens']:,.0f} tok, n={c['problems']}"
                f"{versus})"
            )  # fmt: skip
        lines.append(f"| {strategy} | {budget} | " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def write_report(bench: Bench, out: str | Path, *, plot: bool = True) -> dict[str, Path]:
    """Write ``report.md``, ``report.json`` and (with ``plot``) ``accuracy_tokens.png``.

    Returns:
        The paths written, by kind (``markdown``, ``json``, ``plot``).

    Raises:
        ConfigurationError: ``plot`` is asked for and matplotlib is missing (the markdown and
            JSON are written first).
    """
    directory = Path(out)
    directory.mkdir(parents=True, exist_ok=True)
    data = report_data(bench)
    paths = {"json": directory / "report.json", "markdown": directory / "report.md"}
    paths["json"].write_text(json.dumps(data, indent=2) + "\n")
    png = directory / "accuracy_tokens.png"
    paths["markdown"].write_text(markdown(data, plot=png.name if plot else None))
    if plot:
        from ponder.eval.plot import plot_accuracy_tokens

        plot_accuracy_tokens(data["cells"], png, title=_title(bench))
        paths["plot"] = png
    return paths


def _title(bench: Bench) -> str:
    config = bench.config
    return f"{_dataset_name(bench)}: {config['problems']} problems, {config['model_name']}"
