"""The bench runner: every strategy at every budget on every problem, stored as it goes.

`arun_bench` runs ``strategies x budgets x problems`` through `ponder.asolve` with a
``Budget(tokens=budget)`` each, scores every answer, and writes each result to the database
(`ponder.eval.store`) as soon as it is scored. A bench's id is derived from its
configuration, so running the same bench again resumes it: problems already stored are not
run again. A model that fails on one problem, or a scorer that raises, is recorded for that
problem and the bench goes on.

Where the runs go is an executor's choice (`ponder.distributed`): this process (``local``,
``concurrency`` runs at once), or a Ray cluster (``ray``: ``workers`` actors, each loading
the model once). On Ray every run is persisted in the shared database under an id derived
from its problem, strategy and budget: a worker that dies leaves its runs checkpointed, and
the retried ones continue from their checkpoints (no checkpointed model call is paid again);
a killed driver's bench resumes as any bench does, from the results stored.

Greedy, the reference: when ``greedy`` is among the strategies it runs first, once per
problem, with a budget of one model call and no token limit (the call is capped by its
``max_tokens``; its results carry the budget `REFERENCE_BUDGET`, 0), and the report
compares every other strategy and budget with it on the same problems. Budgets may be
relative to it: ``"2x"`` is twice greedy's mean tokens per problem (in + out, as
``Budget(tokens=)`` counts them) over its runs that finished on this bench's problems,
rounded; greedy is then added to the strategies if it is not named. The budgets are
resolved once greedy has run on every problem and stored with the bench
(``resolved_budgets`` in its configuration), so a resumed bench runs the same ones.

Held-in splits: ``split="tune"`` or ``"report"`` runs only that half of the dataset
(`ponder.eval.datasets.split_of`, by a hash of each question), ``limit`` then counting the
split's problems: fit settings on one, report on the other.

Verifiers, honestly: a strategy is given a verifier only where one exists without the answer
key. Code problems come with their tests, and every strategy may use them. On answer-labelled
datasets no strategy gets a verifier, except ``best-of-n``, which cannot run without one: it
gets the reference answer (an oracle), and its rows say so (``verifier == "oracle"``). Its
accuracy is then pass@N, an upper bound, not what it would reach on new problems.

Example:
    >>> from ponder.testing import ScriptedChatModel
    >>> model = ScriptedChatModel(replies=["4 * 8 = 32. The answer is 32."])
    >>> config = BenchConfig(dataset="arithmetic", strategies=("self-consistency",),
    ...                      budgets=("1x", "2x", 500), split="report", limit=2)
    >>> config.strategies, config.budgets
    (('greedy', 'self-consistency'), (500, '1x', '2x'))
    >>> bench = run_bench(config, db="sqlite+aiosqlite:///doctest-bench.db", model=model,
    ...                   progress=False)  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
import statistics
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO, get_args

from ponder._sync import run_sync
from ponder.api import DEFAULT_DB
from ponder.distributed.durable import WORKER_POOL_SIZE, pool_options, worker_engine_options
from ponder.distributed.executor import Executor, ExecutorName, LocalExecutor
from ponder.distributed.factory import make_executor
from ponder.distributed.model_source import ModelSource, build_model, model_label
from ponder.errors import ConfigurationError
from ponder.eval._job import BenchJob, Key, replaying, strategy_options
from ponder.eval.datasets import Dataset, ScorerName, Split, load_dataset, load_jsonl
from ponder.eval.store import BenchRecord, BenchStore, ProblemResult
from ponder.graphs.registry import STRATEGIES, make_config, strategy_spec
from ponder.models.embedded import EmbeddedChatModel
from ponder.persistence.url import parse_db_url

__all__ = (
    "DEFAULT_BUDGETS",
    "DEFAULT_STRATEGIES",
    "REFERENCE",
    "REFERENCE_BUDGET",
    "STRATEGY_OPTIONS",
    "Bench",
    "BenchConfig",
    "BudgetSpec",
    "arun_bench",
    "load_bench",
    "aload_bench",
    "parse_budget",
    "resolve_budgets",
    "run_bench",
    "strategy_options",
)

DEFAULT_STRATEGIES = ("self-consistency", "best-of-n", "adaptive")
"""The strategies a bench runs when none are named."""

DEFAULT_BUDGETS = (250, 500, 1000)
"""The token budgets a bench runs when none are named."""


REFERENCE = "greedy"
"""The strategy every other is compared with, and the unit of relative budgets."""

REFERENCE_BUDGET = 0
"""The budget key of the reference's runs: they run under ``Budget(calls=1)``, no token limit
(the one call is capped by greedy's ``max_tokens``)."""

BudgetSpec = int | str
"""A bench budget: a token count (``500``), or a multiple of greedy's mean tokens per
problem (``"2x"``, ``"0.5x"``), resolved when greedy has run (`resolve_budgets`)."""

_RELATIVE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)x")


def _multiple(budget: BudgetSpec) -> float | None:
    """The multiple a relative budget names (``"2x"`` -> 2.0); ``None`` for a token count."""
    if not isinstance(budget, str):
        return None
    found = _RELATIVE.fullmatch(budget.strip().lower())
    value = float(found.group(1)) if found else 0.0
    if not (found and 0 < value < math.inf):
        raise ConfigurationError(
            "budgets are whole token counts (500) or positive multiples of greedy's mean "
            f"tokens (2x, 0.5x); got {budget!r}"
        )
    return value


def parse_budget(text: str) -> BudgetSpec:
    """Return the budget ``text`` names: a token count, or a relative budget (``"2x"``).

    Example:
        >>> parse_budget("500"), parse_budget("2X"), parse_budget("1.50x")
        (500, '2x', '1.5x')

    Raises:
        ConfigurationError: Neither a whole token count nor a positive multiple.
    """
    text = text.strip()
    if text.isdigit():
        return int(text)
    multiple = _multiple(text)
    return f"{multiple:g}x"


def resolve_budgets(budgets: Iterable[BudgetSpec], mean_tokens: float) -> dict[str, int]:
    """Return each relative budget of ``budgets`` in tokens: its multiple of ``mean_tokens``.

    ``mean_tokens`` is greedy's mean tokens per problem; each budget is rounded to a whole
    token count, at least 1. Token counts among ``budgets`` are left out.

    Example:
        >>> resolve_budgets([250, "1x", "2x", "0.5x"], 306.4)
        {'1x': 306, '2x': 613, '0.5x': 153}
    """
    resolved = {}
    for budget in budgets:
        multiple = _multiple(budget)
        if multiple is not None:
            resolved[str(budget)] = max(1, round(multiple * mean_tokens))
    return resolved


STRATEGY_OPTIONS: dict[str, dict[str, Any]] = {
    name: dict(spec.bench_options) for name, spec in STRATEGIES.items()
}
"""Each shipped strategy's options in a bench (its spec's ``bench_options``): limits loose
enough for the token budget to bind."""

_REMOTE_CONCURRENCY = 4
"""Problems in flight at once on a remote model, unless told otherwise."""


@dataclass(frozen=True, kw_only=True, slots=True)
class BenchConfig:
    """What a bench runs; its id is derived from it (and from the model's name)."""

    dataset: str
    """A shipped dataset's name (see `ponder.eval.DATASETS`) or a ``.jsonl`` file."""
    strategies: tuple[str, ...] = DEFAULT_STRATEGIES
    """The strategies to compare (``greedy`` is added when a budget is relative)."""
    budgets: tuple[BudgetSpec, ...] = DEFAULT_BUDGETS
    """Budgets per problem: token counts (in + out), or multiples of greedy's mean tokens
    (``"2x"``; see `BudgetSpec`). Kept sorted, token counts first."""
    split: Split | None = None
    """Only the problems of this held-in split (`ponder.eval.datasets.split_of`); all when
    ``None``."""
    limit: int | None = None
    """Only the first ``limit`` problems (of the split); all when ``None``."""
    model: str | None = None
    """A model spec (``smollm2``, ``http://host:port/v1``...); the embedded model when None.
    A model object given to `arun_bench` takes its place (its name is kept here)."""
    seed: int = 0
    """Base sampling seed of every run."""
    question_field: str = "question"
    """A JSONL file's question field."""
    answer_field: str = "answer"
    """A JSONL file's answer field."""
    scorer: ScorerName | None = None
    """A JSONL file's scorer (``number`` or ``string`` by default, from its answers)."""

    def __post_init__(self) -> None:
        if not self.strategies:
            raise ConfigurationError("name at least one strategy to bench")
        for name in self.strategies:
            strategy_spec(name)
        if len(set(self.strategies)) != len(self.strategies):
            raise ConfigurationError(f"a strategy is named twice: {', '.join(self.strategies)}")
        if not self.budgets:
            raise ConfigurationError("name at least one token budget")
        budgets: list[BudgetSpec] = []
        for budget in self.budgets:
            if isinstance(budget, str):
                budget = parse_budget(budget)
            elif isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
                raise ConfigurationError(
                    "budgets are positive token counts (500) or multiples of greedy's mean "
                    f"tokens (2x), got {budget!r}"
                )
            budgets.append(budget)
        if self.limit is not None and (
            isinstance(self.limit, bool) or not isinstance(self.limit, int) or self.limit < 1
        ):
            raise ConfigurationError(f"limit must be a positive whole number, got {self.limit!r}")
        if self.split is not None and self.split not in get_args(Split):
            raise ConfigurationError(
                f"unknown split {self.split!r}; choose one of: {', '.join(get_args(Split))}"
            )
        object.__setattr__(self, "budgets", tuple(sorted(set(budgets), key=_budget_order)))
        if self.relative and REFERENCE not in self.strategies:
            object.__setattr__(self, "strategies", (REFERENCE, *self.strategies))

    @property
    def relative(self) -> tuple[str, ...]:
        """The relative budgets (``"2x"``), resolved once greedy has run."""
        return tuple(b for b in self.budgets if isinstance(b, str))

    @property
    def absolute(self) -> tuple[int, ...]:
        """The budgets given as token counts."""
        return tuple(b for b in self.budgets if isinstance(b, int))

    @property
    def is_file(self) -> bool:
        """Whether the dataset is a user's JSONL file."""
        return self.dataset.endswith((".jsonl", ".jsonl.gz")) or "/" in self.dataset

    def to_dict(self) -> dict[str, Any]:
        """Return the configuration as plain data.

        Without a split, ``split`` is left out: a bench of a whole dataset keeps the id it
        had before benches could be split (running it again resumes it).
        """
        data = dataclasses.asdict(self)
        data["strategies"] = list(self.strategies)
        data["budgets"] = list(self.budgets)
        if self.split is None:
            del data["split"]
        return data

    def load(self) -> Dataset:
        """Load the dataset.

        Raises:
            ConfigurationError: Unknown dataset, or a bad line in a user's file.
        """
        if self.is_file:
            return load_jsonl(
                self.dataset, question_field=self.question_field,
                answer_field=self.answer_field, scorer=self.scorer, limit=self.limit,
                split=self.split,
            )  # fmt: skip
        return load_dataset(self.dataset, limit=self.limit, split=self.split)


def _budget_order(budget: BudgetSpec) -> tuple[int, float]:
    multiple = _multiple(budget)
    return (0, float(budget)) if multiple is None else (1, multiple)


@dataclass(frozen=True, kw_only=True, slots=True)
class Bench:
    """A bench and its stored results."""

    bench_id: str
    """Its id."""
    config: dict[str, Any]
    """Its configuration (`BenchConfig.to_dict`, plus the dataset's scorer and size, and,
    once resolved, ``greedy_mean_tokens`` and ``resolved_budgets``: each relative budget in
    tokens)."""
    results: list[ProblemResult] = field(default_factory=list)
    """Every stored result."""
    created_at: float = 0.0
    """When it first started (Unix seconds)."""


_PROGRESS_LINES = 10
"""Where the progress stream is not a terminal, about how many whole lines a bench prints."""


class _Progress:
    """The progress line on stderr: runs done, running accuracy, tokens, time left.

    On a terminal the line is redrawn in place after every run (a carriage return). Anywhere
    else (a pipe, a log file, CI) that would pile up in one endless line, so a whole line is
    printed every tenth of the runs, and at the end.
    """

    def __init__(self, bench_id: str, total: int, stream: TextIO | None) -> None:
        self.bench_id, self.stream = bench_id, stream
        self.done = self.right = self.tokens = self.new = 0
        self.started = time.monotonic()
        isatty = getattr(stream, "isatty", None)
        self.redraw = bool(isatty and isatty())
        self.resize(total)
        self.printed = -1  # the runs done at the last whole line

    def resize(self, total: int) -> None:
        """Set the runs in all (known once relative budgets are resolved)."""
        self.total = total
        self.every = max(1, -(-total // _PROGRESS_LINES))

    def add(self, result: ProblemResult, *, new: bool) -> None:
        self.done += 1
        self.right += bool(result.correct)
        self.tokens += result.tokens
        self.new += new
        self.show()

    def show(self) -> None:
        if self.stream is None:
            return
        if self.redraw:
            self.stream.write(f"\r{self.line()}  ")
        elif self.done % self.every == 0 or self.done == self.total:
            self.stream.write(f"{self.line()}\n")
            self.printed = self.done
        self.stream.flush()

    def line(self) -> str:
        width = 24
        filled = round(width * self.done / self.total) if self.total else width
        accuracy = f"{self.right / self.done:.0%}" if self.done else "-"
        tokens = f"{self.tokens / self.done:.0f}" if self.done else "-"
        elapsed = time.monotonic() - self.started
        left = self.total - self.done
        eta = f", ~{elapsed / self.new * left / 60:.0f} min left" if self.new and left else ""
        return (
            f"bench {self.bench_id} [{'#' * filled}{'.' * (width - filled)}] "
            f"{self.done}/{self.total} runs, accuracy {accuracy}, {tokens} tokens/run, "
            f"{elapsed / 60:.1f} min{eta}"
        )

    def close(self) -> None:
        if self.stream is None:
            return
        if self.redraw:
            self.stream.write("\n")
        elif self.printed != self.done:  # stopped between two lines: say where
            self.stream.write(f"{self.line()}\n")
        self.stream.flush()


def _check_scorer(dataset: Dataset) -> None:
    if dataset.scorer == "math":
        from ponder.verify.math import math_equal

        math_equal("1", "1")  # raises ConfigurationError naming the extra when missing


_LEARNED = ("greedy_mean_tokens", "resolved_budgets")
"""What a bench adds to its stored configuration as it runs (not part of what it was asked)."""


async def _record(store: BenchStore, bench_id: str, data: Mapping[str, Any]) -> BenchRecord:
    record = await store.get_bench(bench_id)
    if record is None:
        record = BenchRecord(bench_id=bench_id, created_at=time.time(), config=dict(data))
        await store.put_bench(record)
    else:
        asked = {k: v for k, v in record.config.items() if k not in _LEARNED}
        if asked != json.loads(json.dumps(dict(data))):
            raise ConfigurationError(
                f"bench {bench_id} exists with another configuration; pick another --id"
            )
    return record


async def _resolved(
    store: BenchStore, record: BenchRecord, config: BenchConfig, greedy: Sequence[ProblemResult]
) -> dict[str, int]:
    """The relative budgets in tokens: those stored with the bench, else from greedy's runs.

    Resolved once (when greedy has run on every problem) and stored, so a resumed bench runs
    the budgets it started with.
    """
    if not config.relative:
        return {}
    stored = record.config.get("resolved_budgets")
    if stored is not None:
        return {str(k): int(v) for k, v in stored.items()}
    # Runs that ended in an error are left out: their spend is a charge for a failed call
    # (its worst case), or unknown, not what greedy spends to answer.
    spent = [r.tokens for r in greedy if r.status == "done"]
    if not spent:
        raise ConfigurationError(
            f"bench {record.bench_id}: greedy finished no problem (see the errors in its "
            "report), so its relative budgets cannot be resolved; give token counts instead"
        )
    mean = statistics.fmean(spent)
    resolved = resolve_budgets(config.relative, mean)
    record.config.update(greedy_mean_tokens=mean, resolved_budgets=resolved)
    await store.update_config(record.bench_id, record.config)
    return resolved


def _check_pool_size(db: str, pool_size: int | None) -> None:
    """Refuse a ``pool_size`` that is not a positive whole number, or one for a SQLite store.

    Raises:
        ConfigurationError: As said; a SQLite store has no server whose connections to cap.
    """
    if pool_size is None:
        return
    pool_options(pool_size)
    url, _ = parse_db_url(db)
    if url.get_backend_name() != "postgresql":
        raise ConfigurationError(
            f"pool_size (--pool-size) sizes a PostgreSQL store's connection pool; {db} is a "
            "SQLite file: leave it out, or keep the results in PostgreSQL "
            "(--db postgresql://user@host/db)"
        )


async def arun_bench(
    config: BenchConfig,
    *,
    db: str = DEFAULT_DB,
    model: ModelSource = None,
    bench_id: str | None = None,
    concurrency: int | None = None,
    replay: bool = True,
    progress: bool | TextIO = True,
    executor: ExecutorName | Executor = "local",
    address: str | None = None,
    workers: int | None = None,
    pool_size: int | None = None,
) -> Bench:
    """Run (or resume) a bench and return it with all its stored results.

    Args:
        config: What to run.
        db: The database URL the results are kept in (the runs' database by default). A
            Ray job's workers all write to it: PostgreSQL, or SQLite on a one-machine cluster.
        model: A chat model to use instead of ``config.model``, or a zero-argument function
            returning one (built in each worker; a Ray job needs it for a model object that
            does not pickle, such as `ponder.testing.ScriptedChatModel`).
        bench_id: The bench's id; derived from ``config`` when ``None``.
        concurrency: Runs in flight at once (in each worker, on Ray). Default: one for the
            embedded model (its llama.cpp context serves one call at a time), four for any
            other model.
        replay: For the embedded model, make each distinct call once and replay it (see
            `ponder.eval._replay`); results are the same, the bench is faster.
        progress: Show a progress line on stderr (``True``), on a given stream, or not.
        executor: ``"local"`` (this process), ``"ray"`` (a Ray cluster: each run persisted
            in ``db`` and continued from its checkpoint if its worker dies), or an
            `ponder.distributed.Executor`.
        address: The Ray cluster's address (a local cluster for the job when ``None``).
        workers: Ray workers (one per CPU of the cluster when ``None``).
        pool_size: PostgreSQL only: the most connections each store the bench opens holds
            (no overflow): the results store here, and on Ray each worker's run store
            (its results store then holds one). ``None``: SQLAlchemy's default pool here,
            `ponder.distributed.WORKER_POOL_SIZE` per Ray worker.

    Raises:
        ConfigurationError: An unknown dataset, strategy, model or executor, a bad line in
            a user's file, bad options, a ``pool_size`` that is not a positive whole number
            or is given for a SQLite ``db``, or a stored bench of that id with another
            configuration.
    """
    _check_pool_size(db, pool_size)
    dataset = config.load()
    _check_scorer(dataset)
    for strategy in config.strategies:
        make_config(strategy_spec(strategy), strategy_options(strategy, dataset.scorer))
    if concurrency is not None and (isinstance(concurrency, bool) or concurrency < 1):
        raise ConfigurationError(f"concurrency must be a positive number, got {concurrency!r}")
    source: ModelSource = model if model is not None else config.model
    # Built here (the embedded model loads on its first call, not now): the local executor
    # runs it; a Ray job's workers each build their own, and this one is only looked at.
    built = build_model(source)
    local = executor == "local" or isinstance(executor, LocalExecutor)
    if local:
        source = replaying(built, replay=replay)
    embedded = isinstance(built, EmbeddedChatModel)
    limit = 1 if embedded else (concurrency or _REMOTE_CONCURRENCY)
    runner = make_executor(
        executor, concurrency=limit, address=address, workers=workers,
        pool_size=WORKER_POOL_SIZE if pool_size is None else pool_size,
    )  # fmt: skip
    name = model_label(built) if model is not None else config.model or "smollm2"
    data = {
        **config.to_dict(), "model_name": name,
        "scorer": dataset.scorer, "problems": len(dataset.problems),
    }  # fmt: skip
    # The same bench (configuration, model, data) gets the same id: running it again resumes.
    bench_id = (
        bench_id or hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:12]
    )
    problems = range(len(dataset.problems))
    others = [strategy for strategy in config.strategies if strategy != REFERENCE]
    first: list[Key] = []
    if REFERENCE in config.strategies:
        first = [(index, REFERENCE, REFERENCE_BUDGET) for index in problems]
    stream = sys.stderr if progress is True else (progress or None)
    options = worker_engine_options(db, pool_size)
    async with BenchStore.from_url(db, engine_options=options) as store:
        record = await _record(store, bench_id, data)
        stored = await store.results(bench_id)
        done = {(r.problem_index, r.strategy, r.budget) for r in stored}
        meter = _Progress(
            bench_id, len(first) + len(problems) * len(others) * len(config.budgets), stream
        )
        for result in stored:
            meter.add(result, new=False)
        job = BenchJob(
            bench_id=bench_id, dataset=dataset, seed=config.seed, db=db, model=source,
            replay=replay, durable=not isinstance(runner, LocalExecutor), pool_size=pool_size,
        )  # fmt: skip

        async def run(keys: Sequence[Key]) -> None:
            todo = [key for key in keys if key not in done]
            if todo:
                await runner.amap(
                    job, todo, on_result=lambda _index, result: meter.add(result, new=True)
                )

        try:
            await run(first)  # greedy first: the other budgets may be multiples of its tokens
            greedy = [r for r in await store.results(bench_id) if r.strategy == REFERENCE]
            resolved = await _resolved(store, record, config, greedy)
            budgets = sorted({*config.absolute, *resolved.values()})
            keys = [(index, s, b) for index in problems for s in others for b in budgets]
            meter.resize(len(first) + len(keys))
            await run(keys)
        finally:
            meter.close()
        results = await store.results(bench_id)
    return Bench(
        bench_id=bench_id, config=record.config, results=results, created_at=record.created_at
    )


def run_bench(
    config: BenchConfig,
    *,
    db: str = DEFAULT_DB,
    model: ModelSource = None,
    bench_id: str | None = None,
    concurrency: int | None = None,
    replay: bool = True,
    progress: bool | TextIO = True,
    executor: ExecutorName | Executor = "local",
    address: str | None = None,
    workers: int | None = None,
    pool_size: int | None = None,
) -> Bench:
    """Run (or resume) a bench: the sync twin of `arun_bench`, with the same arguments."""
    return run_sync(
        arun_bench(
            config, db=db, model=model, bench_id=bench_id, concurrency=concurrency,
            replay=replay, progress=progress, executor=executor, address=address,
            workers=workers, pool_size=pool_size,
        ),
        name="run_bench",
    )  # fmt: skip


async def aload_bench(bench_id: str, *, db: str = DEFAULT_DB) -> Bench:
    """Return a stored bench and its results.

    Raises:
        ConfigurationError: No bench has that id in ``db``.
    """
    async with BenchStore.from_url(db) as store:
        record = await store.get_bench(bench_id)
        if record is None:
            known = ", ".join(r.bench_id for r in await store.list_benches()) or "none"
            raise ConfigurationError(f"no bench {bench_id!r} in {db} (benches there: {known})")
        results = await store.results(bench_id)
    return Bench(
        bench_id=bench_id, config=record.config, results=results, created_at=record.created_at
    )


def load_bench(bench_id: str, *, db: str = DEFAULT_DB) -> Bench:
    """Return a stored bench and its results: the sync twin of `aload_bench`."""
    return run_sync(aload_bench(bench_id, db=db), name="load_bench")
