"""``ponder fit-policy``: fit the adaptive strategy's allocation policy for a model.

Draws a pool of samples per problem of the tune split of each dataset
(`ponder.eval.allocation.adraw_pool`; stored in ``--pool`` as it goes, so the same command
resumes), fits the policy on them (`ponder.eval.allocation.fit_policy`) and writes it to
``--out``, which ``AdaptiveConfig(allocation=...)`` (``--option allocation=PATH``) reads.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any, cast

from ponder.errors import ConfigurationError

__all__ = ("add_fit_policy_parser", "fit_policy_command")


def add_fit_policy_parser(commands: Any) -> argparse.ArgumentParser:
    """Add the ``fit-policy`` subcommand to ``ponder``'s subparsers."""
    fit = commands.add_parser(
        "fit-policy",
        help="fit the adaptive strategy's allocation policy on held-in problems",
        description="Draw samples on the tune split of each dataset (stored in --pool, so "
        "running the same command again resumes), fit which action each difficulty bin "
        "gets, and write the policy as JSON.",
    )
    fit.add_argument(
        "--dataset", "-d", default="arithmetic,addsub,singleeq,coin-flip,arc-easy",
        help="comma-separated dataset names or .jsonl files",
    )  # fmt: skip
    fit.add_argument("--per-split", type=int, default=40, help="problems per dataset")
    fit.add_argument("--model", "-m", default="smollm2", help="a model spec (default smollm2)")
    fit.add_argument("--pool", default="ponder-pool.json", help="the stored samples (resumed)")
    fit.add_argument("--out", "-o", default="adaptive-policy.json", help="the policy file")
    fit.add_argument(
        "--max-ratio", type=float, default=4.0,
        help="keep the most accurate policy within this many times greedy's tokens",
    )  # fmt: skip
    return cast(argparse.ArgumentParser, fit)


def fit_policy_command(args: argparse.Namespace) -> int:
    """Run ``ponder fit-policy``."""
    from ponder.eval.allocation import acomplete_pool, fit_policy
    from ponder.models import resolve_model

    if args.per_split < 1:
        raise ConfigurationError(f"--per-split must be at least 1, got {args.per_split}")
    if args.max_ratio <= 0:
        raise ConfigurationError(f"--max-ratio must be positive, got {args.max_ratio}")
    datasets = [d.strip() for d in args.dataset.split(",") if d.strip()]
    if not datasets:
        raise ConfigurationError("--dataset names no dataset")
    model = resolve_model(args.model)
    rows = asyncio.run(
        acomplete_pool(model, datasets, args.pool, per_split=args.per_split, splits=("tune",))
    )
    tune = [r for r in rows if r.get("split") == "tune" and r.get("dataset") in datasets]
    fitted_on = {"datasets": datasets, "split": "tune", "problems": len(tune)}
    policy, curve = fit_policy(
        tune, max_ratio=args.max_ratio, model=args.model, fitted_on=fitted_on
    )
    policy.dump(args.out)
    kept = next(c for c in curve if c["policy"] == policy)
    print(f"fitted on {len(tune)} tune problems; on them the policy is right on "
          f"{kept['accuracy']:.1%} at {kept['tokens']:.0f} tokens a problem")  # fmt: skip
    for name, action in sorted(policy.bins.items()):
        print(f"  {name:<12} {action.name}")
    print(f"wrote {args.out}")
    return 0
