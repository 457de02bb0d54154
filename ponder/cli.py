"""The ``ponder`` command: a thin shell over the Python API.

Commands:

- ``ponder solve "PROBLEM" [--strategy S] [--max-tokens N] [--model M] [--json]``
- ``ponder strategies``: the strategies, one line each.
- ``ponder models``: the embedded models.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any, get_args

from ponder.api import solve
from ponder.budget import Budget
from ponder.errors import PonderError
from ponder.graphs.registry import STRATEGIES, StrategyName
from ponder.models.embedded import EMBEDDED_MODELS
from ponder.result import RunResult
from ponder.state import Candidate
from ponder.verify.extract import extract_number, extract_short_answer
from ponder.verify.verifier import ExpectedAnswer

__all__ = ("main",)

_CANDIDATE_LIMIT = {
    "self-consistency": "max_samples",
    "best-of-n": "n",
    "refine": "max_rounds",
    "beam-search": "beam_width",
    "mcts": "iterations",
    "adaptive": "probe_samples",
}


def _option(text: str) -> tuple[str, Any]:
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"options look like key=value, got {text!r}")
    value: Any = raw
    for cast in (int, float):
        try:
            value = cast(raw)
            break
        except ValueError:
            continue
    return key.replace("-", "_"), value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ponder", description="Make a language model think harder, within a budget."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    solve_cmd = commands.add_parser("solve", help="solve one problem")
    solve_cmd.add_argument("problem", help="the problem, as text")
    solve_cmd.add_argument(
        "--strategy", "-s", default="self-consistency", choices=get_args(StrategyName)
    )
    solve_cmd.add_argument("--max-tokens", type=int, default=4000, help="token budget (in + out)")
    solve_cmd.add_argument("--max-calls", type=int, default=None, help="model-call budget")
    solve_cmd.add_argument("--max-seconds", type=float, default=None, help="wall-time budget")
    solve_cmd.add_argument(
        "--model",
        "-m",
        default=None,
        help="embedded model name (smollm2, gemma3), http://host:port/v1, or provider:model",
    )
    solve_cmd.add_argument("-n", type=int, default=None, help="most candidates to draw")
    solve_cmd.add_argument(
        "--expected",
        default=None,
        help="the known answer: verifies candidates (needed by best-of-n)",
    )
    solve_cmd.add_argument(
        "--answer-kind",
        choices=("number", "string"),
        default="number",
        help="how answers are extracted and compared",
    )
    solve_cmd.add_argument("--seed", type=int, default=0)
    solve_cmd.add_argument(
        "--option",
        "-o",
        type=_option,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a strategy option, e.g. -o temperature=0.9 (repeatable)",
    )
    solve_cmd.add_argument("--json", action="store_true", help="print the result as JSON")
    solve_cmd.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")
    commands.add_parser("strategies", help="list the strategies")
    commands.add_parser("models", help="list the embedded models")
    return parser


def _progress(node: str, candidate: Candidate) -> None:
    if candidate["verdict"] is not None:
        detail = f"{candidate['verdict']}" + (
            f" ({candidate['reason']})" if candidate["reason"] else ""
        )
    else:
        answer = candidate["answer"] if candidate["answer"] is not None else "no answer"
        detail = (
            f"answer {answer}  [{candidate['tokens_in'] + candidate['tokens_out']} tokens, "
            f"{candidate['latency_s']:.1f} s]"
        )
    print(f"  {node:<8} {candidate['id']:<4} {detail}", file=sys.stderr, flush=True)


def _report(result: RunResult) -> str:
    lines = [f"answer: {result.answer if result.answer is not None else '(none found)'}"]
    lines.append(
        f"strategy: {result.strategy}  status: {result.status}  stopped: {result.stop_reason}"
    )
    if result.votes:
        votes = ", ".join(f"{answer} x{count:g}" for answer, count in result.votes.items())
        lines.append(f"votes: {votes}")
    for candidate in result.candidates:
        verdict = f"  {candidate['verdict']}" if candidate["verdict"] else ""
        lines.append(f"  {candidate['id']}: {candidate['answer']}{verdict}")
    usage = result.usage
    lines.append(
        f"spent: {usage.tokens} tokens ({usage.tokens_in} in, {usage.tokens_out} out) "
        f"in {usage.calls} calls; wall {result.wall_seconds:.1f} s "
        f"(model {usage.model_seconds:.1f} s)"
    )
    if result.error:
        lines.append(f"error: {result.error}")
    return "\n".join(lines)


def _solve(args: argparse.Namespace) -> int:
    options = dict(args.option)
    if args.n is not None:
        options[_CANDIDATE_LIMIT[args.strategy]] = args.n
    budget = Budget(tokens=args.max_tokens, calls=args.max_calls, seconds=args.max_seconds)
    verifier = ExpectedAnswer(args.expected, args.answer_kind) if args.expected else None
    extractor = extract_number if args.answer_kind == "number" else extract_short_answer
    if not args.quiet:
        print(
            f"ponder: {args.strategy} on {args.model or 'smollm2'} "
            f"(budget {args.max_tokens} tokens)",
            file=sys.stderr,
            flush=True,
        )
    result = solve(
        args.problem,
        args.strategy,
        budget=budget,
        model=args.model,
        verifier=verifier,
        extractor=extractor,
        seed=args.seed,
        on_progress=None if args.quiet else _progress,
        **options,
    )
    print(json.dumps(result.to_dict(), indent=2) if args.json else _report(result))
    return 0 if result.status == "done" else 1


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``ponder`` command; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "solve":
            return _solve(args)
        if args.command == "strategies":
            for name, spec in STRATEGIES.items():
                print(f"{name:<18} {spec.summary}")
            return 0
        for model_name, description in EMBEDDED_MODELS.items():
            print(f"{model_name:<10} {description}")
        return 0
    except PonderError as exc:
        print(f"ponder: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ponder: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
