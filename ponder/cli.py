"""The ``ponder`` command: a thin shell over the Python API.

Commands:

- ``ponder solve "PROBLEM" [--strategy S] [--max-tokens N] [--model M] [--json]``: solve
  one problem; the run is kept in ``ponder.db`` (``--db URL`` for another store,
  ``--no-save`` for none).
- ``ponder runs [RUN]``: the runs (id, strategy, status, spent, answer, started), or one
  run's checkpoints.
- ``ponder resume RUN [--add-tokens N]``: resume a paused or killed run.
- ``ponder fork RUN --at CHECKPOINT [--strategy S]``: a new run from a checkpoint.
- ``ponder rm RUN``: delete a run.
- ``ponder bench --dataset NAME --strategies a,b --budgets 250,500``: evaluate strategies
  on a dataset, resumable (see `ponder.eval.command`); ``--compare ID1 ID2`` side by side.
- ``ponder graph STRATEGY [--format mermaid|ascii|dot|png] [-o FILE]``: draw a strategy's
  graph (see `ponder.viz.command`).
- ``ponder show RUN [-o FILE] [--serve]``: the run viewer, one HTML file or served live.
- ``ponder strategies``: the strategies, one line each.
- ``ponder models``: the embedded models.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence

from ponder import runs
from ponder._options import parse_option
from ponder.api import DEFAULT_DB, solve
from ponder.budget import Budget
from ponder.errors import ConfigurationError, PonderError
from ponder.eval.command import add_bench_parser, bench_command
from ponder.graphs.registry import STRATEGIES
from ponder.models.embedded import EMBEDDED_MODELS
from ponder.result import RunResult
from ponder.state import Candidate
from ponder.verify.extract import extract_number, extract_short_answer
from ponder.verify.verifier import ExpectedAnswer
from ponder.viz.command import add_graph_parser, add_show_parser, graph_command, show_command

__all__ = ("main",)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ponder", description="Make a language model think harder, within a budget."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    solve_cmd = commands.add_parser("solve", help="solve one problem")
    solve_cmd.add_argument("problem", help="the problem, as text")
    solve_cmd.add_argument("--strategy", "-s", default="self-consistency", choices=list(STRATEGIES))
    solve_cmd.add_argument("--max-tokens", type=int, default=4000, help="token budget (in + out)")
    solve_cmd.add_argument("--max-calls", type=int, default=None, help="model-call budget")
    solve_cmd.add_argument("--max-seconds", type=float, default=None, help="wall-time budget")
    solve_cmd.add_argument(
        "--model",
        "-m",
        default=None,
        help="embedded model name (smollm2, gemma3), http://host:port/v1, or provider:model",
    )
    solve_cmd.add_argument(
        "-n",
        type=int,
        default=None,
        help="how much to try: samples (self-consistency, best-of-n), rounds (refine), "
        "beam width (beam-search), iterations (mcts), probes (adaptive)",
    )
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
        type=parse_option,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a strategy option, e.g. -o temperature=0.9 (repeatable)",
    )
    solve_cmd.add_argument("--json", action="store_true", help="print the result as JSON")
    solve_cmd.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")
    solve_cmd.add_argument("--run-id", default=None, help="the run's id (default: a new one)")
    _db_option(solve_cmd)
    solve_cmd.add_argument(
        "--no-save", action="store_true", help="do not keep the run (no resume, no listing)"
    )
    runs_cmd = commands.add_parser("runs", help="list the runs, or one run's checkpoints")
    runs_cmd.add_argument("run", nargs="?", help="a run id: list its checkpoints")
    runs_cmd.add_argument("--limit", type=int, default=50)
    _db_option(runs_cmd)
    resume_cmd = commands.add_parser("resume", help="resume a paused or killed run")
    resume_cmd.add_argument("run")
    resume_cmd.add_argument("--add-tokens", type=int, default=None)
    resume_cmd.add_argument("--add-calls", type=int, default=None)
    resume_cmd.add_argument("--add-seconds", type=float, default=None)
    resume_cmd.add_argument("--model", "-m", default=None, help="the model, if not the stored one")
    decision = resume_cmd.add_mutually_exclusive_group()
    decision.add_argument(
        "--approve",
        dest="approve",
        action="store_const",
        const=True,
        default=None,
        help="approve the phase a run waits for",
    )
    decision.add_argument(
        "--decline",
        dest="approve",
        action="store_const",
        const=False,
        help="decline it: the run ends with what it has",
    )
    resume_cmd.add_argument("--json", action="store_true")
    resume_cmd.add_argument("--quiet", "-q", action="store_true")
    _db_option(resume_cmd)
    fork_cmd = commands.add_parser("fork", help="start a new run from a run's checkpoint")
    fork_cmd.add_argument("run")
    fork_cmd.add_argument("--at", default=None, help="checkpoint id (`ponder runs RUN`)")
    fork_cmd.add_argument("--strategy", "-s", default=None, choices=list(STRATEGIES))
    fork_cmd.add_argument("--add-tokens", type=int, default=None)
    fork_cmd.add_argument("--json", action="store_true")
    fork_cmd.add_argument("--quiet", "-q", action="store_true")
    _db_option(fork_cmd)
    rm_cmd = commands.add_parser("rm", help="delete a run and its checkpoints")
    rm_cmd.add_argument("run")
    _db_option(rm_cmd)
    add_bench_parser(commands)
    add_graph_parser(commands)
    add_show_parser(commands)
    commands.add_parser("strategies", help="list the strategies")
    commands.add_parser("models", help="list the embedded models")
    return parser


def _db_option(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--db", default=DEFAULT_DB, help=f"where runs are kept (default {DEFAULT_DB})"
    )


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
    run = f"  run: {result.run_id}" if result.run_id else ""
    lines.append(
        f"strategy: {result.strategy}  status: {result.status}  stopped: {result.stop_reason}{run}"
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
    if STRATEGIES[args.strategy].needs_verifier and not args.expected:
        raise ConfigurationError(
            f"{args.strategy} needs a verifier: pass --expected ANSWER (the known answer)"
        )
    options = dict(args.option)
    if args.n is not None:
        options[STRATEGIES[args.strategy].candidate_limit] = args.n
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
        args.problem, args.strategy, budget=budget, model=args.model, verifier=verifier,
        extractor=extractor, seed=args.seed,
        on_progress=None if args.quiet else _progress,
        db=None if args.no_save else args.db, run_id=args.run_id, **options,
    )  # fmt: skip
    return _show(result, args)


def _show(result: RunResult, args: argparse.Namespace) -> int:
    print(json.dumps(result.to_dict(), indent=2) if args.json else _report(result))
    if result.status == "paused" and not args.json:
        print(
            f"paused: the budget ran out. Go on with: ponder resume {result.run_id} "
            "--add-tokens 2000",
            file=sys.stderr,
        )
    return 0 if result.status in ("done", "paused") else 1


def _runs(args: argparse.Namespace) -> int:
    if args.run:
        print(f"{'checkpoint':<38} {'step':>4} {'candidates':>10} {'tokens':>7}")
        for point in runs.list_checkpoints(args.run, db=args.db):
            print(
                f"{point['checkpoint_id']:<38} {point['step']:>4} {point['candidates']:>10} "
                f"{point['tokens']:>7}"
            )
        return 0
    print(f"{'run':<14} {'strategy':<17} {'status':<8} {'tokens':>7} {'answer':<12} started")
    for record in runs.list_runs(db=args.db, limit=args.limit):
        started = time.strftime("%Y-%m-%d %H:%M", time.localtime(record["created_at"]))
        answer = "-" if record["answer"] is None else record["answer"][:12]
        print(
            f"{record['run_id']:<14} {record['strategy']:<17} {record['status']:<8} "
            f"{record['tokens']:>7} {answer:<12} {started}"
        )
    return 0


_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "bench": bench_command,
    "graph": graph_command,
    "show": show_command,
}
"""Commands whose module parses and runs them (the others are below)."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``ponder`` command; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "solve":
            return _solve(args)
        if args.command == "runs":
            return _runs(args)
        if args.command == "resume":
            result = runs.resume(
                args.run,
                db=args.db,
                add_tokens=args.add_tokens,
                add_calls=args.add_calls,
                add_seconds=args.add_seconds,
                approve=args.approve,
                model=args.model,
                on_progress=None if args.quiet else _progress,
            )
            return _show(result, args)
        if args.command == "fork":
            result = runs.fork(
                args.run,
                at=args.at,
                strategy=args.strategy,
                db=args.db,
                add_tokens=args.add_tokens,
                on_progress=None if args.quiet else _progress,
            )
            return _show(result, args)
        if args.command == "rm":
            runs.remove_run(args.run, db=args.db)
            print(f"removed run {args.run}")
            return 0
        command = _COMMANDS.get(args.command)
        if command is not None:
            return command(args)
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
