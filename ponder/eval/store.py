"""Where benchmark results are kept: two tables beside the runs, in the same database.

``ponder_bench`` holds one row per bench (its id, when it started, its configuration) and
``ponder_bench_results`` one row per (bench, strategy, budget, problem), written as soon as
that problem is scored. A killed bench therefore loses at most the problems in flight, and
`BenchStore.done` tells a resumed bench which ones to skip.

The database is first opened as a run store (`SqlCheckpointer`), so a new file becomes
a ponder store that ``ponder solve`` can share, and a foreign database is refused untouched.

Example:
    >>> store = BenchStore.from_url("sqlite+aiosqlite:///ponder.db")  # opens nothing yet
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from ponder.errors import CheckpointError
from ponder.persistence.sqlalchemy import SqlCheckpointer
from ponder.persistence.url import parse_db_url

__all__ = ("BenchRecord", "BenchStore", "ProblemResult")

metadata = sa.MetaData()

benches = sa.Table(
    "ponder_bench",
    metadata,
    sa.Column("bench_id", sa.String(64), primary_key=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("config", sa.Text, nullable=False),
)

results = sa.Table(
    "ponder_bench_results",
    metadata,
    sa.Column("bench_id", sa.String(64), primary_key=True),
    sa.Column("strategy", sa.String(64), primary_key=True),
    sa.Column("budget", sa.Integer, primary_key=True),
    sa.Column("problem_index", sa.Integer, primary_key=True),
    sa.Column("problem_id", sa.Text, nullable=False),
    sa.Column("level", sa.Text, nullable=True),
    sa.Column("verifier", sa.String(16), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("correct", sa.Boolean, nullable=True),
    sa.Column("pass_at_n", sa.Boolean, nullable=True),
    sa.Column("candidates", sa.Integer, nullable=False),
    sa.Column("answer", sa.Text, nullable=True),
    sa.Column("expected", sa.Text, nullable=False),
    sa.Column("tokens", sa.Integer, nullable=False),
    sa.Column("calls", sa.Integer, nullable=False),
    sa.Column("wall_seconds", sa.Float, nullable=False),
    sa.Column("difficulty", sa.Float, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("flops", sa.Float, nullable=True),
)

_ADDED = ("flops",)
"""Columns of ``ponder_bench_results`` added since its first release: a bench table made
before lacks them, and `BenchStore.setup` adds them (nullable: its old rows read ``None``)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class BenchRecord:
    """A stored bench."""

    bench_id: str
    """Its id."""
    created_at: float
    """When it first started (Unix seconds)."""
    config: dict[str, Any]
    """What it runs: dataset, strategies, budgets, limit, model, seed, options."""


@dataclass(frozen=True, kw_only=True, slots=True)
class ProblemResult:
    """One strategy at one budget on one problem."""

    bench_id: str
    """The bench."""
    strategy: str
    """The strategy."""
    budget: int
    """The token budget (0: greedy's reference run in `ponder.eval.bench`, one call)."""
    problem_index: int
    """The problem's position in the dataset (in its split, for a bench of one)."""
    problem_id: str
    """The problem's id in the dataset."""
    level: str | None
    """The dataset's difficulty level for the problem, if it has one."""
    verifier: str
    """What judged candidates during the run: ``none``, ``tests`` or ``oracle``."""
    status: str
    """The run's status (``done``, ``failed``), or ``error`` when the bench could not run it."""
    correct: bool | None
    """Whether the answer is right; ``None`` when the scorer raised."""
    pass_at_n: bool | None
    """Whether any candidate's answer is right (an oracle measure); ``None`` when unknown."""
    candidates: int
    """How many candidates the run drew."""
    answer: str | None
    """The run's answer."""
    expected: str
    """The reference answer."""
    tokens: int
    """Tokens spent (in + out)."""
    calls: int
    """Model calls made."""
    wall_seconds: float
    """Wall seconds the run took."""
    flops: float | None = None
    """Estimated floating-point operations of the run (`ponder.result.RunResult.flops`);
    ``None`` when the model's parameter count is unknown, and in results stored before."""
    difficulty: float | None
    """The adaptive strategy's estimate of the problem's difficulty, in [0, 1], if it ran."""
    error: str | None
    """What failed (the model, the scorer), if anything."""
    created_at: float
    """When it was stored (Unix seconds)."""


def _add_columns(connection: sa.Connection, schema: str | None) -> None:
    """Add the `_ADDED` columns a bench table made by an older ponder lacks.

    ``schema`` is the PostgreSQL schema the tables are in (the inspector does not read the
    connection's schema translation).
    """
    inspector = sa.inspect(connection)
    present = {column["name"] for column in inspector.get_columns(results.name, schema)}
    for name in _ADDED:
        if name not in present:
            column = results.c[name]
            kind = column.type.compile(dialect=connection.dialect)
            quoted = connection.dialect.identifier_preparer.quote(name)
            # No SQLAlchemy construct adds a column; the table's name comes from `against`,
            # in the schema the connection translates to. (SQLAlchemy's DDL is untyped.)
            add = sa.DDL(f"ALTER TABLE %(fullname)s ADD COLUMN {quoted} {kind}")  # type: ignore[no-untyped-call]
            connection.execute(add.against(results))


class BenchStore:
    """The bench tables of a ponder database; an async context manager."""

    def __init__(self, db: str, *, engine_options: Mapping[str, Any] | None = None) -> None:
        self._db = db
        self._engine_options = dict(engine_options or {})
        url, schema = parse_db_url(db)
        self._schema = schema
        options: dict[str, Any] = dict(self._engine_options)
        if url.get_backend_name() == "sqlite":
            options["connect_args"] = {"timeout": 30.0}
        if schema:
            options["execution_options"] = {"schema_translate_map": {None: schema}}
        self._engine: AsyncEngine = create_async_engine(url, **options)
        self._ready = False

    @classmethod
    def from_url(cls, db: str, *, engine_options: Mapping[str, Any] | None = None) -> BenchStore:
        """Return the store at ``db`` (a SQLAlchemy URL; ``?schema=`` for PostgreSQL).

        ``engine_options`` go to SQLAlchemy's ``create_async_engine`` (a Ray worker's
        capped pool, `ponder.distributed.durable.pool_options`).

        Raises:
            ConfigurationError: The URL is not usable (see `ponder.persistence.parse_db_url`).
        """
        return cls(db, engine_options=engine_options)

    async def setup(self) -> None:
        """Make the database a ponder store if it is new, then create the bench tables.

        Raises:
            CheckpointError: The database is not ponder's, or is damaged.
        """
        if self._ready:
            return
        async with SqlCheckpointer.from_url(self._db, engine_options=self._engine_options) as saver:
            await saver.setup()
        try:
            async with self._engine.begin() as connection:
                await connection.run_sync(metadata.create_all, checkfirst=True)
                await connection.run_sync(_add_columns, self._schema)
        except SQLAlchemyError as exc:
            raise CheckpointError(f"cannot create the bench tables in {self._db}: {exc}") from exc
        self._ready = True

    async def aclose(self) -> None:
        """Close the store's connections."""
        await self._engine.dispose()

    async def __aenter__(self) -> BenchStore:
        await self.setup()
        return self

    async def __aexit__(self, *_exc_info: object) -> None:
        await self.aclose()

    async def get_bench(self, bench_id: str) -> BenchRecord | None:
        """Return the bench ``bench_id``, or ``None``."""
        async with self._engine.connect() as connection:
            row = (
                await connection.execute(sa.select(benches).where(benches.c.bench_id == bench_id))
            ).first()
        if row is None:
            return None
        return BenchRecord(
            bench_id=row.bench_id, created_at=row.created_at, config=json.loads(row.config)
        )

    async def put_bench(self, record: BenchRecord) -> None:
        """Store a new bench."""
        async with self._engine.begin() as connection:
            await connection.execute(
                sa.insert(benches).values(
                    bench_id=record.bench_id, created_at=record.created_at,
                    config=json.dumps(record.config, sort_keys=True),
                )
            )  # fmt: skip

    async def update_config(self, bench_id: str, config: dict[str, Any]) -> None:
        """Replace the stored configuration of bench ``bench_id``.

        What a bench learns as it runs is kept there (its resolved relative budgets).
        """
        async with self._engine.begin() as connection:
            await connection.execute(
                sa.update(benches).where(benches.c.bench_id == bench_id)
                .values(config=json.dumps(config, sort_keys=True))
            )  # fmt: skip

    async def list_benches(self) -> list[BenchRecord]:
        """Return every bench, newest first."""
        async with self._engine.connect() as connection:
            rows = (
                await connection.execute(sa.select(benches).order_by(benches.c.created_at.desc()))
            ).all()
        return [
            BenchRecord(bench_id=r.bench_id, created_at=r.created_at, config=json.loads(r.config))
            for r in rows
        ]

    async def done(self, bench_id: str) -> set[tuple[str, int, int]]:
        """Return the (strategy, budget, problem index) a bench has results for."""
        columns = (results.c.strategy, results.c.budget, results.c.problem_index)
        async with self._engine.connect() as connection:
            rows = (
                await connection.execute(sa.select(*columns).where(results.c.bench_id == bench_id))
            ).all()
        return {(r.strategy, r.budget, r.problem_index) for r in rows}

    async def put_result(self, result: ProblemResult) -> None:
        """Store one problem's result (replacing an earlier one for the same key)."""
        values = asdict(result)
        key = (results.c.bench_id == result.bench_id) & (results.c.strategy == result.strategy)
        key &= (results.c.budget == result.budget) & (
            results.c.problem_index == result.problem_index
        )
        async with self._engine.begin() as connection:
            await connection.execute(sa.delete(results).where(key))
            await connection.execute(sa.insert(results).values(**values))

    async def results(self, bench_id: str) -> list[ProblemResult]:
        """Return a bench's stored results, by strategy, budget and problem."""
        order = (results.c.strategy, results.c.budget, results.c.problem_index)
        async with self._engine.connect() as connection:
            rows = (
                await connection.execute(
                    sa.select(results).where(results.c.bench_id == bench_id).order_by(*order)
                )
            ).all()
        names = [field.name for field in fields(ProblemResult)]
        return [ProblemResult(**{name: getattr(row, name) for name in names}) for row in rows]
