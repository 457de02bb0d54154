"""The SQLite fast path: a store's hot calls as one function call each, in one worker thread.

Through SQLAlchemy async, every statement on SQLite crosses threads several times: from the
caller's loop to the saver's loop (`ponder.persistence._loop`), through SQLAlchemy's greenlet
bridge, and to aiosqlite's thread and back for each cursor operation. A put costs about a
dozen such hops, more than its SQL. Here one ``sqlite3`` connection lives in one worker
thread, and a whole put, write or read (``BEGIN`` to ``COMMIT``) is one function call there:
one hop per call. The ``sqlite3`` module keeps each statement prepared (its statement cache),
and a put's values go in with one ``executemany``.

Only the hot calls come here: `put`, `put_writes`, `get_tuple` and `list_page`. Checking,
creating and migrating the schema, deletes, copies, pruning, the delta walk and the run
registry stay on SQLAlchemy (`ponder.persistence._store`), which also serves PostgreSQL.
Statements that exist as SQLAlchemy Core are compiled from it, so both paths read and write
the same columns; every value is a bound parameter.

Values are encoded by the caller (`checkpoint_rows`, `write_rows`) before the hop, as the
official savers do: LangGraph may change a channel's value once ``aput`` has been called.
Writes take the file's write lock up front (``BEGIN IMMEDIATE``) and wait for other writers
in SQLite's busy handler (``busy_timeout``), so they never fail with "database is locked";
reads see one snapshot (``BEGIN`` ... ``COMMIT``). Writes queued while the worker is busy
(concurrent tasks, parallel graph branches) commit together, each in a savepoint: one fsync
for all, and every caller still returns only once its own write is committed.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

import sqlalchemy as sa
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import CheckpointMetadata, CheckpointTuple
from langgraph.checkpoint.serde.base import SerializerProtocol
from sqlalchemy.dialects import sqlite

from ponder.errors import CheckpointError
from ponder.persistence._hydrate import (
    CheckpointRow,
    FoundRow,
    ValueKey,
    assemble,
    batches,
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
    upsert,
)
from ponder.persistence.schema import blobs, checkpoints, writes

__all__ = ("CheckpointRow", "SqliteFastPath")

P = ParamSpec("P")
T = TypeVar("T")

_BUSY_TIMEOUT = "PRAGMA busy_timeout = 30000"  # as the SQLAlchemy path's connections
_DIALECT = sqlite.dialect(paramstyle="named")


@functools.cache
def _compiled(statement: sa.ClauseElement) -> str:
    """SQLite's text of a SQLAlchemy statement, with ``:name`` parameters."""
    return str(statement.compile(dialect=_DIALECT))


@functools.cache
def _query(statement: sa.ClauseElement) -> tuple[str, dict[str, Any]]:
    """SQLite's text of a query, and the values of the parameters it fixes itself.

    SQLAlchemy binds even constants (``LIMIT 1``, the ``OFFSET 0`` SQLite needs with a
    ``LIMIT``) as parameters; their values come with the text, to be sent with the caller's.
    """
    compiled = statement.compile(dialect=_DIALECT)
    fixed = {name: value for name, value in compiled.params.items() if value is not None}
    return str(compiled), fixed


def _select(
    conn: sqlite3.Connection, statement: sa.ClauseElement, params: dict[str, Any]
) -> list[CheckpointRow]:
    """Run a query of the `CHECKPOINT_COLUMNS`; its rows."""
    text, fixed = _query(statement)
    return [CheckpointRow._make(row) for row in conn.execute(text, {**fixed, **params})]


@functools.cache
def _values_and_writes(channels: int, versions: int, ids: int) -> str:
    """What `_hydrate` reads for one namespace in one statement: values, then writes.

    Channels and versions are two IN lists, which SQLite searches by the whole primary key
    (see `ponder.persistence._hydrate`); crossed pairs that come back are never looked up.
    Only the number of ``?`` varies; every value is bound.
    """

    def marks(count: int) -> str:
        return ", ".join("?" * count)

    return (
        "SELECT 0, channel, version, NULL, NULL, NULL, type, blob "
        f"FROM {blobs.name} WHERE thread_id = ? AND checkpoint_ns = ? "
        f"AND channel IN ({marks(channels)}) AND version IN ({marks(versions)}) "
        "UNION ALL SELECT 1, channel, checkpoint_id, task_id, idx, task_path, type, blob "
        f"FROM {writes.name} WHERE thread_id = ? AND checkpoint_ns = ? "
        f"AND checkpoint_id IN ({marks(ids)})"
    )


_Steps = tuple[tuple[str, Sequence[Row]], ...]
"""A write: statements, each run with ``executemany`` over its rows."""


def _put_steps(row: Row, blob_rows: Sequence[Row]) -> _Steps:
    checkpoint = (_compiled(upsert("sqlite", checkpoints, CHECKPOINT_UPDATES)), (row,))
    if not blob_rows:
        return (checkpoint,)
    return (_compiled(upsert("sqlite", blobs, ())), blob_rows), checkpoint


def _writes_steps(rows: Sequence[Row], replace: bool) -> _Steps:
    return ((_compiled(upsert("sqlite", writes, WRITE_UPDATES if replace else ())), rows),)


def _closed() -> CheckpointError:
    return CheckpointError(
        "this SqlCheckpointer is closed; open a new one with SqlCheckpointer.from_url"
    )


class _Worker(threading.Thread):
    """A daemon thread running submitted calls one at a time, in order."""

    def __init__(self, name: str) -> None:
        super().__init__(name=name, daemon=True)
        self._jobs: queue.SimpleQueue[
            tuple[concurrent.futures.Future[Any], Callable[..., Any], tuple[Any, ...]] | None
        ] = queue.SimpleQueue()

    def submit(self, function: Callable[..., T], *args: Any) -> concurrent.futures.Future[T]:
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._jobs.put((future, function, args))
        return future

    def finish(self) -> None:
        """Run what is queued, then end the thread."""
        self._jobs.put(None)

    def run(self) -> None:
        while (job := self._jobs.get()) is not None:
            future, function, args = job
            if not future.set_running_or_notify_cancel():
                continue  # cancelled before it started: never runs
            try:
                result = function(*args)
            except BaseException as exc:  # handed to the caller, which re-raises it
                future.set_exception(exc)
            else:
                future.set_result(result)


class SqliteFastPath:
    """One SQLite connection in one worker thread, serving a saver's hot calls.

    The hot calls come in pairs (``aput``/``put``, ...): await the first from any event loop,
    call the second from sync code. `execute` and `trace` run in the worker: pass them to
    `run` or `call`. The connection opens on the first call, which must come after the store
    has been checked (`Store.setup`).

    Example:
        >>> import tempfile
        >>> from ponder.persistence.serde import StrictSerializer
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     fast = SqliteFastPath(f"{folder}/x.db", StrictSerializer(), where="x.db")
        ...     fast.call(fast.execute, "SELECT 40 + 2")
        ...     fast.close()
        [(42,)]
    """

    def __init__(self, path: str, serde: SerializerProtocol, *, where: str) -> None:
        self._path = path
        self._serde = serde
        self._where = where
        self._guard = threading.Lock()
        self._worker: _Worker | None = None
        self._closed = False
        self._conn: sqlite3.Connection | None = None  # used in the worker thread only
        self._pending: list[tuple[concurrent.futures.Future[None], _Steps]] = []
        self._flush_queued = False

    # -- the caller's side -------------------------------------------------------------------

    def submit(
        self, function: Callable[P, T], *args: P.args, **kwargs: P.kwargs
    ) -> concurrent.futures.Future[T]:
        """Queue ``function(*args)`` for the worker; return its future.

        Raises:
            CheckpointError: The fast path (its saver) was closed.
        """
        if kwargs:  # pragma: no cover - internal misuse
            raise TypeError("SqliteFastPath calls take positional arguments only")
        with self._guard:
            return self._submit_locked(function, *args)

    def _submit_locked(
        self, function: Callable[..., T], *args: Any
    ) -> concurrent.futures.Future[T]:
        """`submit`, for a caller holding the guard."""
        if self._closed:
            raise _closed()
        if self._worker is None:
            self._worker = _Worker(f"ponder-sqlite-{id(self):x}")
            self._worker.start()
        return self._worker.submit(function, *args)

    async def run(self, function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``function(*args)`` in the worker and await it from any event loop.

        Cancelling the caller cancels a call that has not started; one that has runs to its
        end (its transaction commits or rolls back whole).
        """
        return await asyncio.wrap_future(self.submit(function, *args, **kwargs))

    def call(self, function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``function(*args)`` in the worker and block until it is done."""
        return self.submit(function, *args, **kwargs).result()

    async def aclose(self) -> None:
        """Close the connection once queued calls are done; idempotent."""
        worker = self._close_worker()
        if worker is not None:
            await asyncio.to_thread(worker.join)

    def close(self, *, wait: bool = True) -> None:
        """Close the connection once queued calls are done; idempotent.

        Args:
            wait: Block until it is closed (``False`` from a garbage collector's finalizer).
        """
        worker = self._close_worker()
        if worker is not None and wait and threading.current_thread() is not worker:
            worker.join()

    def _close_worker(self) -> _Worker | None:
        with self._guard:
            if self._closed:
                return None
            self._closed = True
            worker = self._worker
        if worker is not None:
            worker.submit(self._disconnect)
            worker.finish()
        return worker

    # -- the hot calls ------------------------------------------------------------------------

    async def aput(self, row: Row, blob_rows: Sequence[Row]) -> RunnableConfig:
        """Store an encoded checkpoint and its new values (see `checkpoint_rows`)."""
        await asyncio.wrap_future(self._write(_put_steps(row, blob_rows)))
        return checkpoint_config(row["thread_id"], row["checkpoint_ns"], row["checkpoint_id"])

    def put(self, row: Row, blob_rows: Sequence[Row]) -> RunnableConfig:
        """Blocking twin of `aput`."""
        self._write(_put_steps(row, blob_rows)).result()
        return checkpoint_config(row["thread_id"], row["checkpoint_ns"], row["checkpoint_id"])

    async def aput_writes(self, rows: Sequence[Row], replace: bool) -> None:
        """Store encoded pending writes (see `write_rows`)."""
        await asyncio.wrap_future(self._write(_writes_steps(rows, replace)))

    def put_writes(self, rows: Sequence[Row], replace: bool) -> None:
        """Blocking twin of `aput_writes`."""
        self._write(_writes_steps(rows, replace)).result()

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """Return the addressed checkpoint (the latest when no id is given), or ``None``."""
        return await self.run(self._get_tuple, config)

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """Blocking twin of `aget_tuple`."""
        return self.call(self._get_tuple, config)

    async def alist_page(
        self, query: ListQuery, after: Cursor | None, size: int
    ) -> tuple[list[CheckpointTuple], Cursor | None]:
        """One page of a listing; the same contract as `Store.list_page`."""
        return await self.run(self._list_page, query, after, size)

    def list_page(
        self, query: ListQuery, after: Cursor | None, size: int
    ) -> tuple[list[CheckpointTuple], Cursor | None]:
        """Blocking twin of `alist_page`."""
        return self.call(self._list_page, query, after, size)

    def _write(self, steps: _Steps) -> concurrent.futures.Future[None]:
        """Queue a write; writes queued while the worker is busy commit together (`_flush`)."""
        done: concurrent.futures.Future[None] = concurrent.futures.Future()
        with self._guard:
            if self._flush_queued:
                if self._closed:
                    raise _closed()
            else:
                self._submit_locked(self._flush)  # refuses once closed, before queueing
                self._flush_queued = True
            self._pending.append((done, steps))
        return done

    # -- the worker's side -------------------------------------------------------------------

    def _flush(self) -> None:
        """Commit every queued write in one transaction: group commit, one fsync for all.

        Each caller still returns only once its write is committed, as with a transaction of
        its own. When several writes share the transaction, each runs within a savepoint, so a
        failing one is undone alone and only its caller gets the error.
        """
        with self._guard:
            batch = [(done, steps) for done, steps in self._pending]
            self._pending.clear()
            self._flush_queued = False
        batch = [(done, steps) for done, steps in batch if done.set_running_or_notify_cancel()]
        if not batch:
            return
        grouped = len(batch) > 1
        failures: dict[int, BaseException] = {}
        try:
            with self._transaction("BEGIN IMMEDIATE", "be written") as conn:
                for position, (_, steps) in enumerate(batch):
                    if grouped:
                        conn.execute("SAVEPOINT ponder_write")
                    try:
                        for statement, rows in steps:
                            conn.executemany(statement, rows)
                    except sqlite3.Error as exc:
                        if not grouped:
                            raise
                        conn.execute("ROLLBACK TO ponder_write")
                        failures[position] = self._error("be written", exc)
                    if grouped:
                        conn.execute("RELEASE ponder_write")
        except BaseException as exc:  # nothing was committed: every caller gets the error
            for done, _ in batch:
                done.set_exception(exc)
            return
        for position, (done, _) in enumerate(batch):
            if position in failures:
                done.set_exception(failures[position])
            else:
                done.set_result(None)

    def _get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        thread_id, checkpoint_ns, checkpoint_id = address(config)
        params = {"thread_id": thread_id, "checkpoint_ns": checkpoint_ns}
        query = LATEST
        if checkpoint_id is not None:
            query, params["checkpoint_id"] = EXACT, checkpoint_id
        with self._transaction("BEGIN", "be read") as conn:
            rows = _select(conn, query, params)
            found = self._hydrate(conn, rows, None)
        return found[0] if found else None

    def _list_page(
        self, query: ListQuery, after: Cursor | None, size: int
    ) -> tuple[list[CheckpointTuple], Cursor | None]:
        select, params = page_request(query, after, size)
        wanted = normalize_filter(self._serde, query.filter)
        with self._transaction("BEGIN", "be read") as conn:
            rows = _select(conn, select, params)
            kept, metadata = keep_matching(self._serde, rows, wanted)
            found = self._hydrate(conn, kept, metadata)
        return found, next_cursor(rows, size)

    def execute(self, statement: str, *params: Any) -> list[Any]:
        """Run one statement outside any transaction; for tests and diagnostics."""
        try:
            return self._connection().execute(statement, params).fetchall()
        except sqlite3.Error as exc:
            raise self._error("be read", exc) from exc

    def trace(self, callback: Callable[[str], object] | None) -> None:
        """Pass every statement SQLite runs on the connection to ``callback`` (tests)."""
        self._connection().set_trace_callback(callback)

    def _hydrate(
        self,
        conn: sqlite3.Connection,
        rows: Sequence[CheckpointRow],
        metadata: Sequence[CheckpointMetadata] | None,
    ) -> list[CheckpointTuple]:
        """`ponder.persistence._hydrate.hydrate`, with this connection."""
        if not rows:
            return []
        bodies = [self._serde.loads_typed((row.type, row.checkpoint)) for row in rows]
        values: dict[ValueKey, tuple[str, bytes]] = {}
        found_writes: dict[tuple[str, str, str], list[FoundRow]] = {}
        for (thread_id, checkpoint_ns), request in requests(rows, bodies).items():
            for lists, ids in batches(request):
                channels, versions = lists["channels"], lists["versions"]
                statement = _values_and_writes(len(channels), len(versions), len(ids))
                params = (
                    thread_id,
                    checkpoint_ns,
                    *channels,
                    *versions,
                    thread_id,
                    checkpoint_ns,
                    *ids,
                )
                for found in map(FoundRow._make, conn.execute(statement, params)):
                    if found.kind:
                        found_writes.setdefault((thread_id, checkpoint_ns, found.key), []).append(
                            found
                        )
                    else:
                        values[(thread_id, checkpoint_ns, found.channel, found.key)] = (
                            found.type,
                            found.blob,
                        )
        return assemble(self._serde, rows, bodies, values, found_writes, metadata)

    @contextmanager
    def _transaction(self, begin: str, action: str) -> Iterator[sqlite3.Connection]:
        """One transaction: committed when the block ends, rolled back when it raises."""
        conn = self._connection()
        try:
            conn.execute(begin)  # a constant statement, with no values
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:  # COMMIT itself failed (e.g. the disk is full)
                conn.execute("ROLLBACK")
            raise self._error(action, exc) from exc

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            try:
                conn = sqlite3.connect(self._path, isolation_level=None, cached_statements=64)
            except sqlite3.Error as exc:
                raise self._error("be opened", exc) from exc
            conn.execute(_BUSY_TIMEOUT)
            self._conn = conn
        return self._conn

    def _disconnect(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def _error(self, action: str, exc: sqlite3.Error) -> CheckpointError:
        return CheckpointError(f"{self._where} could not {action}: {exc}")
