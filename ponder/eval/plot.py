"""The accuracy-against-tokens plot of a bench, as a PNG (needs ``pip install 'ponder[plot]'``).

One line per strategy through its budgets: x is the mean tokens spent per problem (log
scale), y the accuracy, with its Wilson 95% interval as error bars.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ponder.errors import ConfigurationError

__all__ = ("plot_accuracy_tokens",)


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError as exc:
        raise ConfigurationError(
            "the accuracy-against-tokens plot needs matplotlib: pip install 'ponder[plot]' "
            "(or pass --no-plot)"
        ) from exc
    matplotlib.use("Agg")  # files only: never open a window
    import matplotlib.pyplot as pyplot

    return pyplot


def plot_accuracy_tokens(
    cells: Sequence[dict[str, Any]], path: str | Path, *, title: str = ""
) -> Path:
    """Draw accuracy against mean tokens per problem, one line per strategy, to ``path``.

    Args:
        cells: Summaries from `ponder.eval.report.summarize` (strategy, budget, accuracy,
            ci95, mean_tokens, verifier).
        path: The PNG to write.
        title: The plot's title.

    Returns:
        The path written.

    Raises:
        ConfigurationError: matplotlib is not installed.
    """
    pyplot = _pyplot()
    from matplotlib import ticker

    figure, axes = pyplot.subplots(figsize=(7, 4.5), dpi=120)
    try:
        strategies: dict[str, list[dict[str, Any]]] = {}
        for cell in cells:
            strategies.setdefault(cell["strategy"], []).append(cell)
        for name, points in strategies.items():
            # A cell that spent nothing (the budget could not afford one call) has no place
            # on a log axis; the report's table still lists it.
            points = sorted(
                (c for c in points if c["mean_tokens"] > 0), key=lambda c: c["mean_tokens"]
            )
            if not points:
                continue
            xs = [c["mean_tokens"] for c in points]
            ys = [c["accuracy"] for c in points]
            below = [c["accuracy"] - c["ci95"][0] for c in points]
            above = [c["ci95"][1] - c["accuracy"] for c in points]
            label = name + (" (oracle verifier)" if "oracle" in points[0]["verifier"] else "")
            axes.errorbar(xs, ys, yerr=[below, above], marker="o", capsize=3, label=label)
            for cell in points:
                # A relative budget by its name (2x); greedy's reference (budget 0) unlabelled.
                budget = cell.get("relative") or cell["budget"]
                if budget:
                    axes.annotate(
                        str(budget), (cell["mean_tokens"], cell["accuracy"]),
                        textcoords="offset points", xytext=(4, 4), fontsize=7, alpha=0.7,
                    )  # fmt: skip
        if any(c["mean_tokens"] > 0 for c in cells):
            axes.set_xscale("log")
            # Label the minor ticks too: a bench's tokens often span less than a decade.
            thousands = ticker.FuncFormatter(lambda x, _: f"{x:,.0f}")
            axes.xaxis.set_major_formatter(thousands)
            axes.xaxis.set_minor_formatter(thousands)
            axes.tick_params(axis="x", which="minor", labelsize=7)
        axes.set_xlabel("mean tokens per problem (in + out; labels: budget)")
        axes.set_ylabel("accuracy (95% Wilson interval)")
        axes.set_ylim(-0.02, 1.02)
        axes.grid(True, which="both", alpha=0.3)
        axes.legend(fontsize=8)
        if title:
            axes.set_title(title, fontsize=10)
        figure.tight_layout()
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(target)
    finally:
        pyplot.close(figure)
    return target
