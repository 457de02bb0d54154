"""The PostgreSQL fast path: a store's hot calls on raw asyncpg connections, one statement each.

Through SQLAlchemy async, a put on PostgreSQL took about four round trips to the server
(``BEGIN``, the values, the checkpoint, ``COMMIT``) plus SQLAlchemy's own work per statement
(its greenlet bridge, result objects). Here the hot calls run straight on the asyncpg
connection under a SQLAlchemy pooled connection (``driver_connection``), in autocommit:

- a put is ONE statement, so one round trip and one commit: a data-modifying CTE inserts the
  new channel values, spelled out in a VALUES list (a statement per count, up to
  `LISTED_ROWS`; more as parallel arrays spread by ``unnest()``), and the statement itself
  upserts the checkpoint row; both or neither are stored;
- a task's pending writes are one ``INSERT``, listed the same way, deduplicated first so that
  a repeated key keeps the value the row-by-row path kept (the first, or the last for
  special channels, `ponder.persistence._rows.write_rows`);
- a lookup or a listing page is one query for the checkpoint rows, then one per namespace for
  their values (exact ``(channel, version)`` pairs) and pending writes, each key spread by
  ``unnest()`` and looked up in its primary key on its own (`_values_and_writes`).
  Reads are not wrapped in a transaction: under PostgreSQL's default READ COMMITTED each
  statement sees its own snapshot anyway, as they did through SQLAlchemy.

Every statement is built once from the SQLAlchemy tables of `ponder.persistence.schema` and
the statements `ponder.persistence._store` defines (`LATEST`, `EXACT`, `page_query`, the
upserts' conflict rules), compiled once per schema with SQLAlchemy's asyncpg dialect (``$n``
parameters with type casts); every value is bound. asyncpg prepares each statement on first
use per connection and keeps it (its statement cache), so later calls send only values.

Connections are borrowed from a SQLAlchemy engine (so ``engine_options`` such as
``connect_args`` or ``pool_size`` apply) and a few are kept checked out between calls, which
saves a pool checkout per call: on the saver's own engine, never all that a capped pool
holds (`_kept`); on the home loop's, all of them (it serves nothing else,
`ponder.persistence._pg_caller`). A connection
whose call failed other than by a server-side SQL error (network, protocol, cancellation) is
invalidated, never reused. Each call runs
shielded from cancellation: one that started finishes (a write commits or not, whole) and
returns its connection; the cancelled caller gets `asyncio.CancelledError`. Closing waits for
the calls in flight, cancelled ones too, before it returns the connections.

Schema setup, migrations, deletes, copies, pruning, the delta walk, the run registry and
leases stay on SQLAlchemy (`ponder.persistence._store`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, NamedTuple, TypeVar, cast

import asyncpg
import sqlalchemy as sa
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import CheckpointMetadata, CheckpointTuple
from langgraph.checkpoint.serde.base import SerializerProtocol
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import asyncpg as asyncpg_dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import SelectBase

from ponder.errors import CheckpointError
from ponder.persistence._hydrate import (
    CheckpointRow,
    FoundRow,
    ValueKey,
    assemble,
    requests,
)
from ponder.persistence._rows import Row, address, checkpoint_config
from ponder.persistence._store import (
    CHECKPOINT_UPDATES,
    EXACT,
    LATEST,
    WRITE_UPDATES,
    Cursor,
    ListQuery,
    keep_matching,
    next_cursor,
    normalize_filter,
    page_request,
)
from ponder.persistence.schema import blobs, checkpoints, writes

__all__ = ("PgFastPath", "Statement", "compiled", "put_statement", "writes_statement")

T = TypeVar("T")

_DIALECT = asyncpg_dialect.dialect()  # type: ignore[no-untyped-call]
_TEXTS = postgresql.ARRAY(sa.Text)
_KEEP = 5  # connections kept between calls when the pool has no size (SQLAlchemy's default)


def _kept(pool: Any) -> int:
    """Connections to keep checked out between calls: the pool's size, less than all it holds.

    One is always left to the pool: the store's other calls (the registry, leases) borrow
    from it too, and a capped pool (``max_overflow=0``, `ponder.distributed`) whose every
    connection sat idle here would make them wait until they time out.
    """
    size = getattr(pool, "size", None)
    if not callable(size):
        return _KEEP
    keep = int(size())
    overflow = getattr(pool, "_max_overflow", -1)  # QueuePool's cap on extra connections
    if isinstance(overflow, int) and overflow >= 0:
        keep = min(keep, keep + overflow - 1)
    return max(0, keep)


class Statement(NamedTuple):
    """A statement compiled for asyncpg: its text, and how to order its values."""

    text: str
    names: tuple[str, ...]
    """The bound parameters' names, in ``$1, $2, ...`` order."""
    fixed: Mapping[str, Any]
    """Values the statement fixes itself (SQLAlchemy binds constants such as ``LIMIT 1``)."""

    def values(self, params: Mapping[str, Any]) -> list[Any]:
        """The positional values for ``params`` (named by parameter)."""
        return [params[name] if name in params else self.fixed[name] for name in self.names]


@functools.cache
def compiled(statement: sa.ClauseElement, schema: str | None) -> Statement:
    """PostgreSQL's text of a SQLAlchemy statement for asyncpg, its tables in ``schema``."""
    if schema is None:
        result = cast(SQLCompiler, statement.compile(dialect=_DIALECT))
    else:
        result = cast(
            SQLCompiler,
            statement.compile(
                dialect=_DIALECT, schema_translate_map={None: schema}, render_schema_translate=True
            ),
        )
    fixed = {name: value for name, value in result.params.items() if value is not None}
    return Statement(str(result), tuple(result.positiontup or ()), fixed)


def _upsert(table: sa.Table, insert: postgresql.Insert, update: Sequence[str]) -> sa.Insert:
    """``insert`` ignoring duplicate keys, or updating ``update`` on one."""
    if not update:
        return insert.on_conflict_do_nothing()
    keys = [column.name for column in table.primary_key.columns]
    return insert.on_conflict_do_update(
        index_elements=keys, set_={name: insert.excluded[name] for name in update}
    )


def _rows_insert(
    table: sa.Table,
    shared: Mapping[str, Any],
    columns: Mapping[str, Any],
    prefix: str,
    rows: int | None,
) -> postgresql.Insert:
    """Insert ``rows`` rows into ``table``, the ``shared`` values in each.

    Per row, the ``columns`` (name to type) are bound as ``{prefix}{k}_{name}`` in a VALUES
    list; for ``rows=None``, any number of rows, each column one array ``{prefix}_{name}``
    spread by ``unnest()`` (one statement text whatever the count).
    """
    if rows is not None:
        each = [
            {
                **shared,
                **{
                    name: sa.bindparam(f"{prefix}{k}_{name}", type_=kind)
                    for name, kind in columns.items()
                },
            }
            for k in range(rows)
        ]
        return postgresql.insert(table).values(each)
    arrays = [
        sa.bindparam(f"{prefix}_{name}", type_=postgresql.ARRAY(kind))
        for name, kind in columns.items()
    ]
    spread = sa.func.unnest(*arrays).table_valued(*columns).render_derived()
    select = sa.select(
        *(value.label(name) for name, value in shared.items()),
        *(spread.c[name].label(name) for name in columns),
    )
    return postgresql.insert(table).from_select([*shared, *columns], select)


def rows_values(prefix: str, names: Sequence[str], rows: Sequence[Row], listed: bool) -> Row:
    """The per-row values of `_rows_insert`'s statement, by parameter name."""
    if listed:
        return {f"{prefix}{k}_{name}": row[name] for k, row in enumerate(rows) for name in names}
    return {f"{prefix}_{name}": [row[name] for row in rows] for name in names}


_BLOB_VALUES = {"channel": sa.Text, "version": sa.Text, "type": sa.Text, "blob": sa.LargeBinary}
_WRITE_VALUES = {"idx": sa.Integer, "channel": sa.Text, "type": sa.Text, "blob": sa.LargeBinary}
_WRITE_CONSTANTS = ("thread_id", "checkpoint_ns", "checkpoint_id", "task_id", "task_path")
LISTED_ROWS = 16
"""Most rows of one write spelled out in a VALUES list, a statement text per row count; more
go through ``unnest()`` arrays. Listed rows cost the server less: a put of four values took
256 µs against 283 through arrays (medians of 80 x 100 puts on one connection each, taking
turns, on this project's 2-core machine)."""


def listed(rows: int) -> int | None:
    """The ``rows`` argument of `put_statement` / `writes_statement` for a write of ``rows``."""
    return rows if rows <= LISTED_ROWS else None


@functools.cache
def put_statement(rows: int | None = None) -> sa.Insert:
    """A whole put in one statement: the new values (a CTE), then the checkpoint row.

    Parameters: the checkpoint row's columns by name; ``b_thread_id``, ``b_checkpoint_ns``,
    and for each of ``rows`` values ``b{k}_channel``, ``b{k}_version``, ``b{k}_type`` and
    ``b{k}_blob``; for ``rows=None``, any number of values as the arrays ``b_channel``, ...
    (see `_rows_insert`). A put of no values is the checkpoint row alone.
    """
    insert = postgresql.insert(checkpoints)
    put = _upsert(checkpoints, insert, CHECKPOINT_UPDATES)
    if rows == 0:
        return put
    shared = {
        "thread_id": sa.bindparam("b_thread_id", type_=sa.Text),
        "checkpoint_ns": sa.bindparam("b_checkpoint_ns", type_=sa.Text),
    }
    new_values = _upsert(blobs, _rows_insert(blobs, shared, _BLOB_VALUES, "b", rows), ())
    return put.add_cte(new_values.cte("new_values"))


@functools.cache
def writes_statement(replace: bool, rows: int | None = None) -> sa.Insert:
    """A task's pending writes in one statement; ``replace``: a repeated key overwrites.

    Parameters: ``w_`` + each of `_WRITE_CONSTANTS`, and for each of ``rows`` writes
    ``w{k}_idx``, ``w{k}_channel``, ``w{k}_type`` and ``w{k}_blob``; for ``rows=None``, any
    number of writes as the arrays ``w_idx``, ... (see `_rows_insert`).
    """
    shared = {name: sa.bindparam(f"w_{name}", type_=sa.Text) for name in _WRITE_CONSTANTS}
    insert = _rows_insert(writes, shared, _WRITE_VALUES, "w", rows)
    return _upsert(writes, insert, WRITE_UPDATES if replace else ())


# Both halves probe the primary key once per wanted key, through a LATERAL subquery the
# planner cannot flatten (its LIMIT / OFFSET). Joined plainly to ``unnest()``, the keys were
# matched by whatever plan the statistics suggested: asyncpg prepares each statement, and from
# the sixth run PostgreSQL may keep a generic plan, which knows neither the arrays' lengths
# nor, on a table not yet analyzed, its size. It chose a nested loop comparing every value of
# the thread with every pair asked for: 1.6 million comparisons, 77 ms, per listing page of
# 100 checkpoints in a thread of 1,000, where the probes take about 1 ms. Even the best
# plain-join plan (a hash join) reads every value of the thread, once per page.
def _values_and_writes() -> SelectBase:
    """The values (kind 0; exact pairs) and pending writes (kind 1) of one namespace."""
    b, w = blobs, writes
    pairs = (
        sa.func.unnest(
            sa.bindparam("channels", type_=_TEXTS), sa.bindparam("versions", type_=_TEXTS)
        )
        .table_valued("channel", "version")
        .render_derived(name="pairs")
    )
    ids = (
        sa.func.unnest(sa.bindparam("checkpoint_ids", type_=_TEXTS))
        .table_valued("checkpoint_id")
        .render_derived(name="ids")
    )
    thread_id = sa.bindparam("thread_id", type_=sa.Text)
    checkpoint_ns = sa.bindparam("checkpoint_ns", type_=sa.Text)
    value = (
        sa.select(b.c.type, b.c.blob)
        .where(
            b.c.thread_id == thread_id,
            b.c.checkpoint_ns == checkpoint_ns,
            b.c.version == pairs.c.version,
            b.c.channel == pairs.c.channel,
        )
        .limit(sa.literal_column("1", sa.Integer))  # a key: at most one; keeps it a probe
        .lateral("value")
    )
    found = (
        sa.select(w.c.channel, w.c.task_id, w.c.idx, w.c.task_path, w.c.type, w.c.blob)
        .where(
            w.c.thread_id == thread_id,
            w.c.checkpoint_ns == checkpoint_ns,
            w.c.checkpoint_id == ids.c.checkpoint_id,
        )
        .offset(sa.literal_column("0", sa.Integer))  # no rows skipped; keeps it a probe
        .lateral("found")
    )
    return sa.union_all(
        sa.select(
            sa.literal_column("0", sa.Integer).label("kind"),
            pairs.c.channel,
            pairs.c.version.label("key"),
            sa.null().label("task_id"),
            sa.null().label("idx"),
            sa.null().label("task_path"),
            value.c.type,
            value.c.blob,
        ).select_from(pairs.join(value, sa.true())),
        sa.select(
            sa.literal_column("1", sa.Integer),
            found.c.channel,
            ids.c.checkpoint_id,
            found.c.task_id,
            found.c.idx,
            found.c.task_path,
            found.c.type,
            found.c.blob,
        ).select_from(ids.join(found, sa.true())),
    )


VALUES_AND_WRITES = _values_and_writes()


def _put_values(row: Row, blob_rows: Sequence[Row], rows: int | None) -> dict[str, Any]:
    """The values of `put_statement` ``(rows)``, ``rows`` being `listed` of the count."""
    params = dict(row)
    params["b_thread_id"], params["b_checkpoint_ns"] = row["thread_id"], row["checkpoint_ns"]
    params.update(rows_values("b", tuple(_BLOB_VALUES), blob_rows, rows is not None))
    return params


def _writes_values(rows: Sequence[Row], replace: bool) -> tuple[int | None, dict[str, Any]]:
    """The ``rows`` argument of `writes_statement` for the writes kept, and their values.

    Row by row, a repeated key keeps the first write, or the last when ``replace``; one
    statement may not touch a row twice, so the duplicates are dropped here.
    """
    kept: dict[int, Row] = {}
    for row in rows:  # one call's rows share every key column but the index
        if replace or row["idx"] not in kept:
            kept[row["idx"]] = row
    first = rows[0]
    params: dict[str, Any] = {f"w_{name}": first[name] for name in _WRITE_CONSTANTS}
    chosen = list(kept.values())
    count = listed(len(chosen))
    params.update(rows_values("w", tuple(_WRITE_VALUES), chosen, count is not None))
    return count, params


class _Borrowed(NamedTuple):
    """A connection checked out of SQLAlchemy's pool, and the asyncpg connection under it."""

    pooled: AsyncConnection
    raw: asyncpg.Connection


class PgFastPath:
    """A PostgreSQL store's hot calls on asyncpg connections borrowed from its engine.

    Every method runs on the loop of the engine's connections: the saver's
    (`ponder.persistence._loop`), or the home loop's (`ponder.persistence._pg_caller`).

    Args:
        engine: The store's engine (its connections; its schema translation is not used).
        schema: The schema holding the tables, or ``None`` for the search path's.
        serde: The serializer.
        setup: Checks and sets up the store; awaited before each call (at once when done).
        error: Makes the `CheckpointError` for a failed action (``"be written"``).
        keep: How many connections to keep between calls; default `_kept` of the engine's
            pool (an engine of the path's own keeps them all).
    """

    def __init__(
        self,
        engine: AsyncEngine,
        schema: str | None,
        serde: SerializerProtocol,
        *,
        setup: Callable[[], Awaitable[None]],
        error: Callable[[str, Exception], CheckpointError],
        keep: int | None = None,
    ) -> None:
        self._engine = engine
        self._setup = setup
        self._keep = _kept(engine.pool) if keep is None else keep
        self._schema = schema
        self._serde = serde
        self._error = error
        self._idle: list[_Borrowed] = []
        self._lent: set[_Borrowed] = set()  # held by calls in flight
        self._running: set[asyncio.Task[Any]] = set()  # calls in flight, cancelled or not
        self._closed = False
        self._set_up = False
        self._values_and_writes = compiled(VALUES_AND_WRITES, schema)

    async def put(self, row: Row, blob_rows: Sequence[Row]) -> RunnableConfig:
        """Store an encoded checkpoint and its new values (see `checkpoint_rows`)."""
        count = listed(len(blob_rows))
        statement = compiled(put_statement(count), self._schema)
        values = statement.values(_put_values(row, blob_rows, count))
        await self._call(lambda raw: raw.execute(statement.text, *values), "be written")
        return checkpoint_config(row["thread_id"], row["checkpoint_ns"], row["checkpoint_id"])

    async def put_writes(self, rows: Sequence[Row], replace: bool) -> None:
        """Store encoded pending writes (see `write_rows`); ``rows`` is not empty."""
        count, params = _writes_values(rows, replace)
        statement = compiled(writes_statement(replace, count), self._schema)
        values = statement.values(params)
        await self._call(lambda raw: raw.execute(statement.text, *values), "be written")

    async def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """Return the addressed checkpoint (the latest when no id is given), or ``None``."""
        thread_id, checkpoint_ns, checkpoint_id = address(config)
        params = {"thread_id": thread_id, "checkpoint_ns": checkpoint_ns}
        query = LATEST
        if checkpoint_id is not None:
            query, params["checkpoint_id"] = EXACT, checkpoint_id
        statement = compiled(query, self._schema)

        async def read(raw: asyncpg.Connection) -> list[CheckpointTuple]:
            found = await raw.fetch(statement.text, *statement.values(params))
            return await self._hydrate(raw, [CheckpointRow._make(row) for row in found], None)

        found = await self._call(read, "be read")
        return found[0] if found else None

    async def list_page(
        self, query: ListQuery, after: Cursor | None, size: int
    ) -> tuple[list[CheckpointTuple], Cursor | None]:
        """One page of a listing; the same contract as `Store.list_page`."""
        select, params = page_request(query, after, size)
        statement = compiled(select, self._schema)
        wanted = normalize_filter(self._serde, query.filter)

        async def read(raw: asyncpg.Connection) -> tuple[list[CheckpointTuple], Cursor | None]:
            found = await raw.fetch(statement.text, *statement.values(params))
            rows = [CheckpointRow._make(row) for row in found]
            kept, metadata = keep_matching(self._serde, rows, wanted)
            return await self._hydrate(raw, kept, metadata), next_cursor(rows, size)

        return await self._call(read, "be read")

    @property
    def in_flight(self) -> int:
        """Calls running now, each on a connection of its own (a cancelled one until it ends)."""
        return len(self._running)

    @property
    def closed(self) -> bool:
        """Whether `close` (or `abandon`) has begun."""
        return self._closed

    def abandon(self) -> None:
        """Forget every connection, kept or held by a call, without closing it.

        For a path whose loop is closed: nothing can run there any more. Each connection is
        detached from the engine's pool (which would otherwise try to close it, on that loop,
        when it is garbage collected); the collector closes its socket.
        """
        self._closed = True
        held = [*self._idle, *self._lent]
        self._idle, self._lent, self._running = [], set(), set()
        for borrowed in held:
            with contextlib.suppress(Exception):  # best effort: the pool's loop is closed
                borrowed.pooled.sync_connection.connection.detach()  # type: ignore[union-attr]

    async def close(self) -> None:
        """Wait for the calls in flight, then return every connection to the engine's pool."""
        self._closed = True
        if self._running:
            await asyncio.wait(set(self._running))
        idle, self._idle = self._idle, []
        for borrowed in idle:
            await borrowed.pooled.close()

    async def _hydrate(
        self,
        raw: asyncpg.Connection,
        rows: Sequence[CheckpointRow],
        metadata: Sequence[CheckpointMetadata] | None,
    ) -> list[CheckpointTuple]:
        """`ponder.persistence._hydrate.hydrate`, one query per namespace on ``raw``."""
        if not rows:
            return []
        bodies = [self._serde.loads_typed((row.type, row.checkpoint)) for row in rows]
        values: dict[ValueKey, tuple[str, bytes]] = {}
        found_writes: dict[tuple[str, str, str], list[FoundRow]] = {}
        statement = self._values_and_writes
        for (thread_id, checkpoint_ns), (pairs, ids) in requests(rows, bodies).items():
            ordered = sorted(pairs)
            params = {
                "thread_id": thread_id,
                "checkpoint_ns": checkpoint_ns,
                "channels": [channel for channel, _ in ordered],
                "versions": [version for _, version in ordered],
                "checkpoint_ids": sorted(set(ids)),
            }
            for found in map(
                FoundRow._make, await raw.fetch(statement.text, *statement.values(params))
            ):
                if found.kind:
                    found_writes.setdefault((thread_id, checkpoint_ns, found.key), []).append(found)
                else:
                    values[(thread_id, checkpoint_ns, found.channel, found.key)] = (
                        found.type,
                        found.blob,
                    )
        return assemble(self._serde, rows, bodies, values, found_writes, metadata)

    async def _call(self, work: Callable[[asyncpg.Connection], Awaitable[T]], action: str) -> T:
        """Run ``work`` on a borrowed connection, shielded from the caller's cancellation.

        The work runs in a task of its own, which hands its outcome to a future the caller
        awaits: cancelling the caller cancels that future, never the task. (`asyncio.shield`
        does the same through one more callback, a loop iteration per call.)
        """
        loop = asyncio.get_running_loop()
        outcome: asyncio.Future[T] = loop.create_future()
        task = loop.create_task(self._settle(outcome, work, action))
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        return await outcome

    async def _settle(
        self,
        outcome: asyncio.Future[T],
        work: Callable[[asyncpg.Connection], Awaitable[T]],
        action: str,
    ) -> None:
        """`_use`, its result or error handed to ``outcome`` unless the caller has gone."""
        try:
            result = await self._use(work, action)
        except asyncio.CancelledError:  # the loop is shutting down
            outcome.cancel()
            raise
        except GeneratorExit:  # destroyed with its closed loop: nothing can run there
            raise
        except Exception as exc:  # the caller's to handle, if it still waits
            if not outcome.done():
                outcome.set_exception(exc)
        except BaseException as exc:  # KeyboardInterrupt, SystemExit: the caller's and ours
            if not outcome.done():
                outcome.set_exception(exc)
            raise
        else:
            if not outcome.done():
                outcome.set_result(result)

    async def _use(self, work: Callable[[asyncpg.Connection], Awaitable[T]], action: str) -> T:
        if not self._set_up:  # once done, setup stays done
            await self._setup()
            self._set_up = True
        try:
            borrowed = self._idle.pop() if self._idle else await self._borrow()
        except (sa.exc.SQLAlchemyError, OSError) as exc:
            raise self._error(action, exc) from exc
        self._lent.add(borrowed)
        try:
            result = await work(borrowed.raw)
        except asyncpg.PostgresError as exc:  # the server refused the statement: still usable
            await self._give_back(borrowed, usable=not borrowed.raw.is_closed())
            raise self._error(action, exc) from exc
        except (asyncpg.InterfaceError, asyncpg.InternalClientError, OSError) as exc:
            # A lost connection (InternalClientError: the protocol was mid-operation when
            # the server went away): drop it, say so; the next call borrows a fresh one.
            await self._give_back(borrowed, usable=False)
            raise self._error(action, exc) from exc
        except GeneratorExit:  # the call's task is destroyed with its closed loop
            raise
        except BaseException:
            await self._give_back(borrowed, usable=False)
            raise
        if not self._keep_idle(borrowed):  # kept for the next call without a coroutine
            await self._give_back(borrowed, usable=True)
        return result

    async def _borrow(self) -> _Borrowed:
        pooled = await self._engine.connect()
        try:
            raw = (await pooled.get_raw_connection()).driver_connection
        except BaseException:
            await pooled.close()
            raise
        if not isinstance(raw, asyncpg.Connection):  # pragma: no cover - asyncpg is enforced
            await pooled.close()
            raise TypeError(f"expected an asyncpg connection, got {type(raw).__name__}")
        return _Borrowed(pooled, raw)

    def _keep_idle(self, borrowed: _Borrowed) -> bool:
        """Keep a usable connection for the next call, if there is room; whether it was."""
        if len(self._idle) >= self._keep or self._closed:
            return False
        self._lent.discard(borrowed)
        self._idle.append(borrowed)
        return True

    async def _give_back(self, borrowed: _Borrowed, *, usable: bool) -> None:
        if usable and self._keep_idle(borrowed):
            return
        self._lent.discard(borrowed)
        if not usable:
            await borrowed.pooled.invalidate()
        await borrowed.pooled.close()
