"""The ``ponder`` command: a thin shell over the Python API.

Commands:

- ``ponder solve "PROBLEM" [--strategy S] [--max-tokens N] [--model M] [-O KEY=VALUE]``:
  solve one problem; the run is kept in ``ponder.db`` (``--db URL`` for another store,
  ``--no-save`` for none).
- ``ponder runs [RUN]``: the runs (id, strategy, status, spent, answer, started), or one
  run's checkpoints.
- ``ponder resume RUN [--add-tokens N]``: resume a paused or killed run.
- ``ponder fork RUN --at CHECKPOINT [--strategy S]``: a new run from a checkpoint.
- ``ponder rm RUN``: delete a run.
- ``ponder rescore RUN --select confidence [--measure M]``: the answer another selection
  rule gives over a stored run's candidates (no model call).
- ``ponder bench --dataset NAME --strategies a,b --budgets 250,500``: evaluate strategies
  on a dataset, resumable (see `ponder.eval.command`); ``--compare ID1 ID2`` side by side.
- ``ponder graph STRATEGY [--format mermaid|ascii|dot|png] [-o FILE]``: draw a strategy's
  graph (see `ponder.viz.command`).
- ``ponder show RUN [-o FILE] [--serve]``: the run viewer, one HTML file or served live.
- ``ponder serve [--host 127.0.0.1] [--port 8000] [--model SPEC] [--db URL]
  [--api-key-env NAME]``: an OpenAI-compatible HTTP API whose models are the strategies
  (see `ponder.serve`; needs the ``serve`` extra).
- ``ponder strategies``: the strategies, one line each.
- ``ponder models``: the embedded models.
- ``ponder --version``: the installed version.

Where runs are kept is ``--db URL``: ``ponder.db`` by default; any database URL of
ponder's own saver (``sqlite:///runs.db``, ``postgresql://user@host/db?schema=ponder``), or a
URL naming one of LangGraph's savers: ``langgraph+sqlite:///runs.db`` (``AsyncSqliteSaver``)
or ``langgraph+postgres://user@host/db`` (``AsyncPostgresSaver``). ``ponder runs`` also
lists the threads of a user's own graph in that store that have a ponder strategy inside,
and ``ponder show`` draws them (see `ponder.stores`).

Conventions, the same for every command:

- ``--json`` prints the command's data as JSON on stdout (every command that prints data
  takes it); under ``--json`` an error is one JSON object on stderr,
  ``{"error": {"kind": "ConfigurationError", "message": "..."}}``, and a warning one line
  ``{"warning": {"message": "..."}}``.
- A mistake (a usage error, a bad value, a missing or damaged store) prints one
  ``ponder: error: ...`` line on stderr and exits with status 2, never a traceback; a run
  that fails exits with 1; an interrupted command with 130.
- ``-o``/``--output`` names an output file or folder (``graph``, ``show``, ``bench``);
  strategy options are ``-O KEY=VALUE`` (``--option``).
- Progress goes to stderr. Lines that redraw themselves (a carriage return) are for
  terminals only: there ``ponder solve`` says it is waiting for the model when a call takes
  a while; piped or logged, stderr holds whole lines only.
- The commands that read what is stored (``runs``, ``resume``, ``fork``, ``rm``, ``show``,
  ``bench --list``/``--compare``) refuse a SQLite ``--db`` that does not exist instead of
  creating it; ``solve`` and ``bench`` create it. A database this user may not write can
  still be listed and shown (it is opened read-only).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.metadata
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NoReturn, TextIO, get_args

from ponder import runs
from ponder._options import add_json_flag, existing_db, parse_option, print_json, readable_db
from ponder.api import DEFAULT_DB, solve
from ponder.budget import Budget
from ponder.errors import ConfigurationError, PonderError
from ponder.eval.command import add_bench_parser, bench_command
from ponder.eval.policy_command import add_fit_policy_parser, fit_policy_command
from ponder.graphs.registry import STRATEGIES
from ponder.models.embedded import EMBEDDED_MODELS
from ponder.nodes.select import SelectMethod
from ponder.nodes.vote import ConfidenceMeasure
from ponder.result import RunResult
from ponder.runner import ProgressCallback
from ponder.state import Candidate
from ponder.verify.arithmetic import extract_repaired_number
from ponder.verify.extract import extract_short_answer
from ponder.verify.verifier import ExpectedAnswer
from ponder.viz.command import add_graph_parser, add_show_parser, graph_command, show_command

__all__ = ("main",)

_WAIT_NOTICE_AFTER = 2.0
"""Seconds without progress after which `ponder solve` says, on a terminal, that it waits."""
_WAIT_TICK = 0.25
"""Seconds between two redraws of that notice."""


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are ponder errors (``ponder: error:``, exit 2).

    The subcommands' parsers are made by the same class (argparse's ``parser_class``).
    """

    def error(self, message: str) -> NoReturn:
        raise ConfigurationError(f"{message} (see `{self.prog} --help`)")


def _version() -> str:
    try:
        return importlib.metadata.version("ponder")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - run from a checkout
        return "(not installed)"


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="ponder", description="Make a language model think harder, within a budget."
    )
    parser.add_argument("--version", action="version", version=f"ponder {_version()}")
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
        "-O",
        type=parse_option,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a strategy option, e.g. -O temperature=0.9 (repeatable)",
    )
    add_json_flag(solve_cmd)
    solve_cmd.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")
    solve_cmd.add_argument("--run-id", default=None, help="the run's id (default: a new one)")
    _db_option(solve_cmd)
    solve_cmd.add_argument(
        "--no-save", action="store_true", help="do not keep the run (no resume, no listing)"
    )
    runs_cmd = commands.add_parser("runs", help="list the runs, or one run's checkpoints")
    runs_cmd.add_argument("run", nargs="?", help="a run id: list its checkpoints")
    runs_cmd.add_argument("--limit", type=_positive, default=50, help="the newest N runs")
    add_json_flag(runs_cmd, "the runs (or the run's checkpoints)")
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
    add_json_flag(resume_cmd)
    resume_cmd.add_argument("--quiet", "-q", action="store_true")
    _db_option(resume_cmd)
    fork_cmd = commands.add_parser("fork", help="start a new run from a run's checkpoint")
    fork_cmd.add_argument("run")
    fork_cmd.add_argument("--at", default=None, help="checkpoint id (`ponder runs RUN`)")
    fork_cmd.add_argument("--strategy", "-s", default=None, choices=list(STRATEGIES))
    fork_cmd.add_argument("--add-tokens", type=int, default=None)
    fork_cmd.add_argument("--model", "-m", default=None, help="the model, if not the stored one")
    add_json_flag(fork_cmd)
    fork_cmd.add_argument("--quiet", "-q", action="store_true")
    _db_option(fork_cmd)
    rescore_cmd = commands.add_parser(
        "rescore", help="another selection rule over a stored run's candidates (no model call)"
    )
    rescore_cmd.add_argument("run")
    rescore_cmd.add_argument("--select", default="majority", choices=list(get_args(SelectMethod)))
    rescore_cmd.add_argument(
        "--measure", default="mean_logprob", choices=list(get_args(ConfidenceMeasure)),
        help="the confidence figure a confidence rule reads",
    )  # fmt: skip
    rescore_cmd.add_argument("--keep", type=float, default=0.5, help="filtered: share voting")
    rescore_cmd.add_argument(
        "--temperature", type=float, default=0.3, help="confidence: softmax temperature"
    )
    add_json_flag(rescore_cmd, "the rule's answer and votes")
    _db_option(rescore_cmd)
    rm_cmd = commands.add_parser("rm", help="delete a run and its checkpoints")
    rm_cmd.add_argument("run")
    add_json_flag(rm_cmd, "what was removed")
    _db_option(rm_cmd)
    add_bench_parser(commands)
    add_fit_policy_parser(commands)
    add_graph_parser(commands)
    add_show_parser(commands)
    _add_serve_parser(commands)
    add_json_flag(commands.add_parser("strategies", help="list the strategies"), "the strategies")
    add_json_flag(commands.add_parser("models", help="list the embedded models"), "the models")
    return parser


def _add_serve_parser(commands: Any) -> None:
    serve_cmd = commands.add_parser(
        "serve", help="serve the strategies over an OpenAI-compatible HTTP API"
    )
    serve_cmd.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine)"
    )
    serve_cmd.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    serve_cmd.add_argument(
        "--model", "-m", default=None,
        help="the model: embedded name (smollm2, gemma3), http://host:port/v1, provider:model",
    )  # fmt: skip
    serve_cmd.add_argument(
        "--allow-model", action="append", default=[], metavar="SPEC",
        help="another model spec requests may name as ponder-<strategy>/SPEC (repeatable)",
    )  # fmt: skip
    serve_cmd.add_argument(
        "--api-key-env", default=None, metavar="NAME",
        help="require Authorization: Bearer <the value of environment variable NAME>",
    )  # fmt: skip
    serve_cmd.add_argument(
        "--reproducible", action="store_true",
        help="decode each run's steps alone (repeatable samples; slower when requests overlap)",
    )  # fmt: skip
    _db_option(serve_cmd)


def _db_option(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--db", default=DEFAULT_DB,
        help=f"where runs are kept (default {DEFAULT_DB}); also langgraph+sqlite:///FILE or "
        "langgraph+postgres://... for LangGraph's own savers",
    )  # fmt: skip


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"a positive whole number, not {text!r}")
    return value


class _Waiting:
    """On a terminal, a notice on stderr while nothing has shown for a while.

    A long model call (or the first one, which loads the model) otherwise looks like a hang.
    The notice is redrawn in place (a carriage return) and wiped before the next progress
    line; where stderr is not a terminal nothing is drawn, so pipes and logs keep whole lines
    only.
    """

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self._last = time.monotonic()
        self._shown = False
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> _Waiting:
        isatty = getattr(self._stream, "isatty", None)
        if isatty is not None and isatty():
            self._thread = threading.Thread(target=self._watch, name="ponder-waiting", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *_exc_info: object) -> None:
        self._done.set()
        if self._thread is not None:
            self._thread.join()
        with self._lock:
            self._wipe()

    def line(self, text: str) -> None:
        """Print a progress line; the wait starts again from it."""
        with self._lock:
            self._wipe()
            print(text, file=self._stream, flush=True)
            self._last = time.monotonic()

    def _watch(self) -> None:
        turn = 0
        while not self._done.wait(_WAIT_TICK):
            with self._lock:
                idle = time.monotonic() - self._last
                if idle >= _WAIT_NOTICE_AFTER:
                    spinner = "|/-\\"[turn % 4]
                    self._stream.write(f"\r{spinner} waiting for the model... {idle:.0f} s")
                    self._stream.flush()
                    self._shown, turn = True, turn + 1

    def _wipe(self) -> None:
        if self._shown:
            self._stream.write("\r\033[K")
            self._shown = False


@contextmanager
def _progress(quiet: bool) -> Iterator[ProgressCallback | None]:
    """The progress callback of a run (``None`` when quiet), with the waiting notice."""
    if quiet:
        yield None
        return
    with _Waiting(sys.stderr) as waiting:

        def show(node: str, candidate: Candidate) -> None:
            waiting.line(_progress_line(node, candidate))

        yield show


def _progress_line(node: str, candidate: Candidate) -> str:
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
    return f"  {node:<8} {candidate['id']:<4} {detail}"


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
        + ("" if result.flops is None else f"; about {result.flops:.2g} FLOPs")
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
    extractor = extract_repaired_number if args.answer_kind == "number" else extract_short_answer
    if not args.quiet:
        print(
            f"ponder: {args.strategy} on {args.model or 'smollm2'} "
            f"(budget {args.max_tokens} tokens)",
            file=sys.stderr,
            flush=True,
        )
    with _progress(args.quiet) as on_progress:
        result = solve(
            args.problem, args.strategy, budget=budget, model=args.model, verifier=verifier,
            extractor=extractor, seed=args.seed, on_progress=on_progress,
            db=None if args.no_save else args.db, run_id=args.run_id, **options,
        )  # fmt: skip
    return _show(result, args)


def _resume(args: argparse.Namespace) -> int:
    db = existing_db(args.db)
    with _progress(args.quiet) as on_progress:
        result = runs.resume(
            args.run, db=db, add_tokens=args.add_tokens, add_calls=args.add_calls,
            add_seconds=args.add_seconds, approve=args.approve, model=args.model,
            on_progress=on_progress,
        )  # fmt: skip
    return _show(result, args)


def _fork(args: argparse.Namespace) -> int:
    db = existing_db(args.db)
    with _progress(args.quiet) as on_progress:
        result = runs.fork(
            args.run, at=args.at, strategy=args.strategy, db=db, add_tokens=args.add_tokens,
            model=args.model, on_progress=on_progress,
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
    db = readable_db(args.db)
    if args.run:
        points = runs.list_checkpoints(args.run, db=db)
        if args.json:
            print_json(points)
            return 0
        print(f"{'checkpoint':<38} {'step':>4} {'candidates':>10} {'tokens':>7}")
        for point in points:
            print(
                f"{point['checkpoint_id']:<38} {point['step']:>4} {point['candidates']:>10} "
                f"{point['tokens']:>7}"
            )
        return 0
    records = runs.list_runs(db=db, limit=args.limit)
    if args.json:
        print_json(records)
        return 0
    print(f"{'run':<14} {'strategy':<17} {'status':<11} {'tokens':>7} {'answer':<12} started")
    for record in records:
        started = time.strftime("%Y-%m-%d %H:%M", time.localtime(record["created_at"]))
        answer = "-" if record["answer"] is None else record["answer"][:12]
        graph = "  (your graph's thread)" if "namespace" in record else ""
        print(
            f"{record['run_id']:<14} {record['strategy']:<17} {record['status']:<11} "
            f"{record['tokens']:>7} {answer:<12} {started}{graph}"
        )
    return 0


def _rescore(args: argparse.Namespace) -> int:
    found = runs.rescore(
        args.run, db=readable_db(args.db), select=args.select, measure=args.measure,
        keep=args.keep, temperature=args.temperature,
    )  # fmt: skip
    if args.json:
        print_json(found)
        return 0
    votes = ", ".join(f"{answer}: {count:g}" for answer, count in found["votes"].items())
    print(f"answer by {found['select']}: {found['answer']}  (the run's own: "
          f"{found['stored_answer']})")  # fmt: skip
    print(f"votes: {votes or 'none'}; {found['candidates']} candidates, "
          f"{found['with_confidence']} with the model's confidence")  # fmt: skip
    return 0


def _rm(args: argparse.Namespace) -> int:
    runs.remove_run(args.run, db=existing_db(args.db))
    if args.json:
        print_json({"removed": args.run})
    else:
        print(f"removed run {args.run}")
    return 0


def _serve(args: argparse.Namespace) -> int:
    try:
        from ponder.serve import serve
    except ImportError as exc:
        raise ConfigurationError(
            f"ponder serve needs the serve extra ({exc.name} is missing): "
            "pip install 'ponder[serve]'"
        ) from None
    api_key = None
    if args.api_key_env is not None:
        api_key = os.environ.get(args.api_key_env)
        if not api_key:
            raise ConfigurationError(
                f"--api-key-env {args.api_key_env}: that environment variable is not set "
                "or empty; set it to the key clients must send"
            )
    where = f"http://{f'[{args.host}]' if ':' in args.host else args.host}:{args.port}/v1"
    print(
        f"ponder: serving on {where} (model {args.model or 'smollm2'}, runs in {args.db}"
        f"{', API key required' if api_key else ''}); Ctrl-C stops",
        file=sys.stderr, flush=True,
    )  # fmt: skip
    serve(
        host=args.host, port=args.port, model=args.model, db=args.db, api_key=api_key,
        allow_models=args.allow_model, reproducible=args.reproducible,
    )  # fmt: skip
    return 0


def _strategies(args: argparse.Namespace) -> int:
    if args.json:
        print_json(
            [
                {
                    "name": name,
                    "summary": spec.summary,
                    "needs_verifier": spec.needs_verifier,
                    "candidate_limit": spec.candidate_limit,
                    "options": sorted(f.name for f in dataclasses.fields(spec.config_type)),
                }
                for name, spec in STRATEGIES.items()
            ]
        )
        return 0
    for name, spec in STRATEGIES.items():
        print(f"{name:<18} {spec.summary}")
    return 0


def _models(args: argparse.Namespace) -> int:
    if args.json:
        print_json([{"name": name, "description": d} for name, d in EMBEDDED_MODELS.items()])
        return 0
    for model_name, description in EMBEDDED_MODELS.items():
        print(f"{model_name:<10} {description}")
    return 0


_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "solve": _solve,
    "runs": _runs,
    "resume": _resume,
    "fork": _fork,
    "rm": _rm,
    "rescore": _rescore,
    "bench": bench_command,
    "fit-policy": fit_policy_command,
    "graph": graph_command,
    "show": show_command,
    "serve": _serve,
    "strategies": _strategies,
    "models": _models,
}
"""Each command, by name."""


def _check_utf8(arguments: Sequence[str]) -> None:
    """Refuse arguments that are not valid text.

    Bytes that were not UTF-8 reach Python as lone surrogates, which no model, store or file
    can take: they would fail deep inside a run.
    """
    for position, argument in enumerate(arguments, 1):
        try:
            argument.encode("utf-8")
        except UnicodeEncodeError:
            try:
                shown = repr(argument.encode("utf-8", "surrogateescape"))
            except UnicodeEncodeError:  # a surrogate that is not an undecodable byte
                shown = repr(argument)
            raise ConfigurationError(
                f"argument {position} is not valid UTF-8: {shown}; give text in UTF-8 "
                "(check the encoding of the terminal, or of the file it came from)"
            ) from None


class _StderrLog(logging.Handler):
    """Prints ponder's warnings on stderr as ``ponder: warning: ...`` (or JSON lines)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.json = False

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level, message = record.levelname.lower(), record.getMessage()
            if self.json:
                print(json.dumps({level: {"message": message}}), file=sys.stderr)
            else:
                print(f"ponder: {level}: {message}", file=sys.stderr)
        except Exception:  # pragma: no cover - logging's own convention
            self.handleError(record)


def _print_error(error: PonderError, as_json: bool) -> None:
    if as_json:
        data = {"error": {"kind": type(error).__name__, "message": str(error)}}
        print(json.dumps(data), file=sys.stderr)
    else:
        print(f"ponder: error: {error}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``ponder`` command; returns the exit status.

    0: done (or paused); 1: the run failed; 2: a usage error, a bad value or an unusable
    store (one ``ponder: error:`` line on stderr); 130: interrupted.
    """
    arguments = list(sys.argv[1:] if argv is None else argv)
    log = _StderrLog()
    log.json = "--json" in arguments  # until the arguments are parsed
    logger = logging.getLogger("ponder")
    logger.addHandler(log)
    try:
        _check_utf8(arguments)
        try:
            args = _parser().parse_args(arguments)
        except SystemExit as exc:  # --help and --version print, then exit
            return exc.code if isinstance(exc.code, int) else 0
        log.json = bool(getattr(args, "json", False))
        return _COMMANDS[args.command](args)
    except PonderError as exc:
        _print_error(exc, log.json)
        return 2
    except KeyboardInterrupt:
        print("ponder: interrupted", file=sys.stderr)
        return 130
    finally:
        logger.removeHandler(log)


if __name__ == "__main__":
    raise SystemExit(main())
