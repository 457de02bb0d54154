"""The SQL side of `SqlCheckpointer`: every query, run on the saver's private event loop.

Every statement is SQLAlchemy Core over the tables of `ponder.persistence.schema`, with bound
parameters; nothing from outside is ever formatted into SQL. Metadata filters are applied in
Python to the decoded metadata, so any key (quotes, ``$``, dots, brackets, ``--``) is just a
dictionary key. On SQLite, the hot calls (put, writes, lookups, listings) are served by
`ponder.persistence._sqlite_fast` instead, and on PostgreSQL by `ponder.persistence._pg_fast`;
both compile the statements defined here (`LATEST`, `EXACT`, `page_request`, `upsert`'s
conflict rules) rather than repeating them. Setup, migrations and every other call use this
module on both backends.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import sqlalchemy as sa
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    CheckpointMetadata,
    CheckpointTuple,
    DeltaChannelHistory,
)
from langgraph.checkpoint.serde.base import SerializerProtocol
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ponder.errors import CheckpointError, ConfigurationError
from ponder.persistence._delta import delta_history
from ponder.persistence._engine import BEGIN_OPTION, create_engine, describe
from ponder.persistence._hydrate import CHECKPOINT_COLUMNS, hydrate, matches
from ponder.persistence._prune import delete_checkpoints, keep_latest
from ponder.persistence._rows import Row, address, checkpoint_config, chunks, key
from ponder.persistence.leases import Lease, LeaseOwner
from ponder.persistence.runs import RunRecord
from ponder.persistence.schema import (
    SCHEMA_VERSION,
    blobs,
    checkpoints,
    leases,
    migrate,
    read_schema_version,
    runs,
    writes,
)

__all__ = (
    "CHECKPOINT_UPDATES",
    "LATEST",
    "EXACT",
    "WRITE_UPDATES",
    "Cursor",
    "ListQuery",
    "Store",
    "keep_matching",
    "next_cursor",
    "normalize_filter",
    "page_request",
    "upsert",
)

logger = logging.getLogger(__name__)

Cursor = tuple[str, str, str]
"""Where a listing stopped: ``(checkpoint_id, thread_id, checkpoint_ns)`` of its last row."""

_SCHEMA_LOCK = 0x706F6E646572  # "ponder": PostgreSQL advisory lock serializing migrations
# Database failures, and network ones (asyncpg raises OSError when the server is unreachable).
_STORE_ERRORS = (SQLAlchemyError, OSError)
_WAL_PATIENCE = 30.0  # seconds to wait for the file when switching it to WAL, as busy_timeout
CHECKPOINT_UPDATES = (
    "parent_checkpoint_id",
    "run_id",
    "type",
    "checkpoint",
    "metadata_type",
    "metadata",
)
"""The columns a put of an existing checkpoint overwrites (its key stays)."""
WRITE_UPDATES = ("task_path", "channel", "type", "blob")
"""The columns a repeated write to a special channel overwrites."""


@dataclass(frozen=True, kw_only=True, slots=True)
class ListQuery:
    """What `Store.list_page` lists; ``None`` fields do not filter."""

    thread_id: str | None
    """Only this thread."""
    checkpoint_ns: str | None
    """Only this namespace."""
    checkpoint_id: str | None
    """Only this checkpoint."""
    before: str | None
    """Only checkpoints whose id sorts before this one."""
    filter: Mapping[str, Any] | None
    """Metadata keys and the values they must equal."""


# Statements are built once, with named bound parameters, and reused: building one costs more
# than running it through SQLAlchemy's compiled cache (an upsert's ``excluded`` above all).
_c = checkpoints
_IN_NAMESPACE = (
    _c.c.thread_id == sa.bindparam("thread_id"),
    _c.c.checkpoint_ns == sa.bindparam("checkpoint_ns"),
)
LATEST = (
    sa.select(*CHECKPOINT_COLUMNS)
    .where(*_IN_NAMESPACE)
    .order_by(_c.c.checkpoint_id.desc())
    .limit(1)
)
EXACT = sa.select(*CHECKPOINT_COLUMNS).where(
    *_IN_NAMESPACE, _c.c.checkpoint_id == sa.bindparam("checkpoint_id")
)
_PARENT_OF_LATEST = (
    sa.select(_c.c.parent_checkpoint_id)
    .where(*_IN_NAMESPACE)
    .order_by(_c.c.checkpoint_id.desc())
    .limit(1)
)
_PARENT_OF_EXACT = sa.select(_c.c.parent_checkpoint_id).where(
    *_IN_NAMESPACE, _c.c.checkpoint_id == sa.bindparam("checkpoint_id")
)
_THREAD_DELETES = tuple(
    sa.delete(table).where(table.c.thread_id.in_(sa.bindparam("thread_ids", expanding=True)))
    for table in (writes, blobs, checkpoints)
)


@functools.cache
def page_query(
    thread: bool, namespace: bool, checkpoint: bool, before: bool, after: bool
) -> sa.Select[Any]:
    """The `Store.list_page` query for one combination of filters (each a bound parameter)."""
    c = checkpoints
    query = sa.select(*CHECKPOINT_COLUMNS)
    if thread:
        query = query.where(c.c.thread_id == sa.bindparam("thread_id"))
    if namespace:
        query = query.where(c.c.checkpoint_ns == sa.bindparam("checkpoint_ns"))
    if checkpoint:
        query = query.where(c.c.checkpoint_id == sa.bindparam("checkpoint_id"))
    if before:
        query = query.where(c.c.checkpoint_id < sa.bindparam("before"))
    if after:
        last_id: sa.BindParameter[str] = sa.bindparam("last_id")
        last_thread: sa.BindParameter[str] = sa.bindparam("last_thread")
        last_ns: sa.BindParameter[str] = sa.bindparam("last_ns")
        query = query.where(
            sa.or_(
                c.c.checkpoint_id < last_id,
                sa.and_(
                    c.c.checkpoint_id == last_id,
                    sa.or_(
                        c.c.thread_id < last_thread,
                        sa.and_(c.c.thread_id == last_thread, c.c.checkpoint_ns < last_ns),
                    ),
                ),
            )
        )
    return query.order_by(
        c.c.checkpoint_id.desc(), c.c.thread_id.desc(), c.c.checkpoint_ns.desc()
    ).limit(sa.bindparam("size", type_=sa.Integer))


@functools.cache
def upsert(dialect: str, table: sa.Table, update: tuple[str, ...]) -> sa.Insert:
    """An INSERT that ignores a duplicate key, or updates ``update`` columns on one."""
    keys = [column.name for column in table.primary_key.columns]
    insert = sqlite.insert(table) if dialect == "sqlite" else postgresql.insert(table)
    if update:
        return insert.on_conflict_do_update(
            index_elements=keys, set_={name: insert.excluded[name] for name in update}
        )
    return insert.on_conflict_do_nothing(index_elements=keys)


def page_request(
    query: ListQuery, after: Cursor | None, size: int
) -> tuple[sa.Select[Any], dict[str, Any]]:
    """The statement and bound parameters that read one page of a listing."""
    select = page_query(
        query.thread_id is not None,
        query.checkpoint_ns is not None,
        query.checkpoint_id is not None,
        query.before is not None,
        after is not None,
    )
    params: dict[str, Any] = {
        "thread_id": query.thread_id,
        "checkpoint_ns": query.checkpoint_ns,
        "checkpoint_id": query.checkpoint_id,
        "before": query.before,
        "size": size,
    }
    if after is not None:
        params["last_id"], params["last_thread"], params["last_ns"] = after
    return select, {name: value for name, value in params.items() if value is not None}


def normalize_filter(
    serde: SerializerProtocol, wanted: Mapping[str, Any] | None
) -> Mapping[str, Any]:
    """A metadata filter as stored metadata reads back (a round trip turns tuples into lists)."""
    if not wanted:
        return {}
    return {name: serde.loads_typed(serde.dumps_typed(value)) for name, value in wanted.items()}


def keep_matching(
    serde: SerializerProtocol, rows: Sequence[Any], wanted: Mapping[str, Any]
) -> tuple[list[Any], list[CheckpointMetadata]]:
    """The rows whose decoded metadata matches ``wanted``, and that metadata."""
    kept: list[Any] = []
    metadata: list[CheckpointMetadata] = []
    for row in rows:
        decoded = serde.loads_typed((row.metadata_type, row.metadata))
        if matches(decoded, wanted):
            kept.append(row)
            metadata.append(decoded)
    return kept, metadata


def next_cursor(rows: Sequence[Any], size: int) -> Cursor | None:
    """Where the next page starts: after the last row of a full page; ``None`` at the end."""
    if len(rows) < size:
        return None
    last = rows[-1]
    return (last.checkpoint_id, last.thread_id, last.checkpoint_ns)


_JSON_COLUMNS = ("options", "verifier", "settings", "budget")
"""The columns of ``ponder_runs`` holding JSON text."""


_NUMBER = (int, float)
_RUN_COLUMN_TYPES: dict[str, tuple[type, ...]] = {
    "run_id": (str,), "strategy": (str,), "problem": (str,), "options": (dict,),
    "model": (str, type(None)), "verifier": (dict, type(None)), "settings": (dict, type(None)),
    "budget": (dict,), "seed": (int,), "status": (str,), "stop_reason": (str, type(None)),
    "answer": (str, type(None)), "tokens": (int,), "calls": (int,), "seconds": _NUMBER,
    "parent_run_id": (str, type(None)), "created_at": _NUMBER, "updated_at": _NUMBER,
}  # fmt: skip
"""What each column of a ``ponder_runs`` row holds once decoded (SQLite stores any type)."""


def _run_record(row: sa.RowMapping) -> RunRecord:
    """Decode a registry row; a damaged one (bad JSON, a value of the wrong type) is refused.

    Raises:
        CheckpointError: The row is damaged.
    """
    record = dict(row)
    run_id = record.get("run_id")
    for name in _JSON_COLUMNS:
        try:
            record[name] = None if record[name] is None else json.loads(record[name])
        except (TypeError, ValueError) as exc:
            raise CheckpointError(
                f"the record of run {run_id!r} is damaged: its {name} are not JSON ({exc})"
            ) from exc
    for name, types in _RUN_COLUMN_TYPES.items():
        value = record.get(name)
        if isinstance(value, bool) or not isinstance(value, types):
            raise CheckpointError(
                f"the record of run {run_id!r} is damaged: its {name} is {value!r}"
            )
    return cast(RunRecord, record)


_LEASE_COLUMN_TYPES: dict[str, tuple[type, ...]] = {
    "run_id": (str,), "owner": (str,), "host": (str,), "pid": (int,),
    "acquired_at": _NUMBER, "renewed_at": _NUMBER,
}  # fmt: skip
"""What each column of a ``ponder_run_leases`` row holds once decoded."""


def _storable(text: str) -> str:
    """Return ``text`` as every backend can hold it.

    NUL (which PostgreSQL text refuses) and lone surrogates (which are not UTF-8) become
    U+FFFD. The registry only shows the text; the checkpoints keep it exact.
    """
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return text


def _lease(row: sa.RowMapping) -> Lease:
    """Decode a lease row; a damaged one is refused.

    Raises:
        CheckpointError: The row holds values of the wrong types.
    """
    for name, types in _LEASE_COLUMN_TYPES.items():
        if isinstance(row[name], bool) or not isinstance(row[name], types):
            raise CheckpointError(
                f"the lease of run {row['run_id']!r} is damaged: its {name} is {row[name]!r}"
            )
    owner = LeaseOwner(id=row["owner"], host=row["host"], pid=row["pid"])
    return Lease(row["run_id"], owner, float(row["acquired_at"]), float(row["renewed_at"]))


class Store:
    """The checkpoint tables of one database, used from one event loop only."""

    def __init__(
        self,
        url: URL,
        *,
        schema: str | None,
        engine_options: Mapping[str, Any] | None,
        serde: SerializerProtocol,
    ) -> None:
        self._where = describe(url, schema)
        self._schema = schema
        self._serde = serde
        self._sqlite = url.get_backend_name() == "sqlite"
        self._verified = False
        self._ready = False
        self._setup_lock = asyncio.Lock()
        # SQLite has one writer at a time: queue this saver's writers here rather than in
        # SQLite's busy handler, which polls. Other processes still wait in the busy handler.
        self._write_lock = asyncio.Lock() if self._sqlite else None
        self._engine = create_engine(
            url, schema=schema, options=engine_options, wal_allowed=lambda: self._verified
        )
        # SQLite write transactions take the write lock at BEGIN IMMEDIATE. Those that read
        # first send it themselves; those that start with an INSERT or DELETE let the sqlite3
        # module send it within that first statement (no BEGIN_OPTION), saving a round trip,
        # and run on one connection kept for them (`_dedicated`), saving a pool checkout.
        self._writer = self._engine
        self._dml_writer = self._engine
        if self._sqlite:
            self._writer = self._engine.execution_options(**{BEGIN_OPTION: "BEGIN IMMEDIATE"})
            self._dml_writer = self._engine.execution_options(**{BEGIN_OPTION: None})
        self._dml_connection: AsyncConnection | None = None
        self._dialect = "sqlite" if self._sqlite else "postgresql"

    @property
    def engine(self) -> AsyncEngine:
        """The store's engine (its PostgreSQL schema, if any, applied by translation)."""
        return self._engine

    @property
    def ready(self) -> bool:
        """Whether the store has been checked and set up (`setup` has succeeded)."""
        return self._ready

    async def setup(self) -> None:
        """Check the store, then create or migrate its tables; idempotent, under a lock."""
        if not self._ready:
            async with self._setup_lock:
                await self._prepare()

    async def _prepare(self) -> None:
        if self._ready:  # another caller prepared the store while this one waited
            return
        try:
            self._check_folder()
            async with self._engine.connect() as conn:
                version = await conn.run_sync(self._read_version)
            if version < SCHEMA_VERSION:
                async with self._writer.begin() as conn:
                    if not self._sqlite:
                        await conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_SCHEMA_LOCK)))
                    version = await conn.run_sync(self._read_version)
                    if version < SCHEMA_VERSION:
                        await conn.run_sync(self._migrate, version)
            self._verified = True
            if self._sqlite:
                await self._enable_wal()
        except _STORE_ERRORS as exc:
            raise self.error("be opened", exc) from exc
        self._ready = True

    def _check_folder(self) -> None:
        """Refuse a SQLite file in a folder that does not exist before aiosqlite is asked.

        aiosqlite's connection thread, failing to open such a file, reports to the loop it
        was opened from even after that loop has closed; refusing first starts no thread.
        """
        database = self._engine.url.database if self._sqlite else None
        if database and database != ":memory:" and not database.startswith("file:"):
            folder = Path(database).expanduser().parent
            if not folder.is_dir():
                raise FileNotFoundError(f"no folder {str(folder)!r} for the SQLite file")

    async def _enable_wal(self) -> None:
        """Switch the SQLite file to WAL (persistent), retrying while other writers are busy.

        Changing the journal mode needs the file to itself, and SQLite reports "database is
        locked" at once rather than waiting in the busy handler; so wait here instead.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _WAL_PATIENCE
        delay = 0.005
        outside_transactions = self._engine.execution_options(**{BEGIN_OPTION: None})
        while True:
            try:
                async with outside_transactions.connect() as conn:
                    await conn.exec_driver_sql("PRAGMA journal_mode = WAL")
                return
            except OperationalError as exc:
                if "locked" not in str(exc) or loop.time() > deadline:
                    raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.2)

    async def dispose(self) -> None:
        """Close every connection (after the write in progress, if any)."""
        if self._write_lock is not None:
            async with self._write_lock:
                await self._drop_dedicated()
        await self._engine.dispose()

    async def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """Return the addressed checkpoint (the latest when no id is given), or ``None``."""
        thread_id, checkpoint_ns, checkpoint_id = address(config)
        params = {"thread_id": thread_id, "checkpoint_ns": checkpoint_ns}
        query = LATEST
        if checkpoint_id is not None:
            query, params["checkpoint_id"] = EXACT, checkpoint_id
        async with self._read() as conn:
            rows = (await conn.execute(query, params)).all()
            found = await hydrate(conn, self._serde, rows)
        return found[0] if found else None

    async def list_page(
        self, query: ListQuery, after: Cursor | None, size: int
    ) -> tuple[list[CheckpointTuple], Cursor | None]:
        """Scan up to ``size`` checkpoints after ``after``, newest first; keep the matches.

        Returns:
            The matching checkpoints, and the cursor to continue from (``None`` at the end).
        """
        select, params = page_request(query, after, size)
        wanted = normalize_filter(self._serde, query.filter)
        async with self._read() as conn:
            rows = (await conn.execute(select, params)).all()
            kept, metadata = keep_matching(self._serde, rows, wanted)
            found = await hydrate(conn, self._serde, kept, metadata)
        return found, next_cursor(rows, size)

    async def put(self, row: Row, blob_rows: Sequence[Row]) -> RunnableConfig:
        """Store an encoded checkpoint and its new values (see `checkpoint_rows`)."""
        async with self._write(reads=False) as conn:
            if blob_rows:
                await conn.execute(self._upsert(blobs, ()), blob_rows)
            await conn.execute(self._upsert(checkpoints, CHECKPOINT_UPDATES), row)
        return checkpoint_config(row["thread_id"], row["checkpoint_ns"], row["checkpoint_id"])

    async def put_writes(self, rows: Sequence[Row], replace: bool) -> None:
        """Store encoded pending writes (see `write_rows`)."""
        async with self._write(reads=False) as conn:
            await conn.execute(self._upsert(writes, WRITE_UPDATES if replace else ()), rows)

    async def delete_threads(self, thread_ids: Sequence[str]) -> None:
        """Delete every checkpoint, value and write of these threads."""
        ids = [key(thread_id, "thread_id") for thread_id in thread_ids]
        async with self._write(reads=False) as conn:
            for batch in chunks(ids):
                for delete in _THREAD_DELETES:
                    await conn.execute(delete, {"thread_ids": batch})

    async def delete_for_runs(self, run_ids: Sequence[str]) -> None:
        """Delete the checkpoints these runs made, their writes, and values left unused."""
        ids = [key(run_id, "run_id") for run_id in run_ids]
        c = checkpoints
        async with self._write() as conn:
            doomed: dict[tuple[str, str], list[str]] = {}
            for batch in chunks(ids):
                result = await conn.execute(
                    sa.select(c.c.thread_id, c.c.checkpoint_ns, c.c.checkpoint_id).where(
                        c.c.run_id.in_(batch)
                    )
                )
                for row in result:
                    doomed.setdefault((row.thread_id, row.checkpoint_ns), []).append(
                        row.checkpoint_id
                    )
            for (thread_id, checkpoint_ns), checkpoint_ids in doomed.items():
                await delete_checkpoints(
                    conn, self._serde, thread_id, checkpoint_ns, checkpoint_ids
                )

    async def copy_thread(self, source: str, target: str) -> None:
        """Copy every checkpoint, value and write of ``source`` to the empty thread ``target``."""
        source, target = key(source, "thread_id"), key(target, "thread_id")
        if source == target:
            raise ConfigurationError(f"cannot copy thread {source!r} onto itself")
        c = checkpoints
        async with self._write() as conn:
            taken = await conn.scalar(
                sa.select(c.c.checkpoint_id).where(c.c.thread_id == target).limit(1)
            )
            if taken is not None:
                raise ConfigurationError(
                    f"cannot copy into thread {target!r}: it already has checkpoints; "
                    "delete it first (adelete_thread) or pick another thread id"
                )
            for table in (checkpoints, blobs, writes):
                columns = [column.name for column in table.columns if column.name != "thread_id"]
                rows = sa.select(
                    sa.literal(target, sa.Text()).label("thread_id"),
                    *(table.c[name] for name in columns),
                ).where(table.c.thread_id == source)
                await conn.execute(sa.insert(table).from_select(["thread_id", *columns], rows))

    async def keep_latest(self, thread_ids: Sequence[str]) -> None:
        """Keep the latest checkpoint of each namespace of these threads, and what it needs.

        A checkpoint whose metadata names ``DeltaChannel`` channels also keeps its ancestors
        up to the nearest stored value of each, with their writes: without them, the channels
        would be rebuilt empty.
        """
        ids = [key(thread_id, "thread_id") for thread_id in thread_ids]
        c = checkpoints
        async with self._write() as conn:
            for thread_id in ids:
                namespaces = (
                    await conn.scalars(
                        sa.select(c.c.checkpoint_ns).where(c.c.thread_id == thread_id).distinct()
                    )
                ).all()
                for checkpoint_ns in namespaces:
                    await keep_latest(conn, self._serde, thread_id, checkpoint_ns)

    async def delta_history(
        self, config: RunnableConfig, channels: Sequence[str]
    ) -> dict[str, DeltaChannelHistory]:
        """Return the stored value and later writes of each channel; see `_delta`."""
        thread_id, checkpoint_ns, checkpoint_id = address(config)
        names = [key(channel, "channel") for channel in channels]
        params = {"thread_id": thread_id, "checkpoint_ns": checkpoint_ns}
        query = _PARENT_OF_LATEST
        if checkpoint_id is not None:
            query, params["checkpoint_id"] = _PARENT_OF_EXACT, checkpoint_id
        async with self._read() as conn:
            target = (await conn.execute(query, params)).first()
            if target is None:
                return {name: {"writes": []} for name in names}
            return await delta_history(
                conn, self._serde, thread_id, checkpoint_ns, target.parent_checkpoint_id, names
            )

    # -- the run registry --------------------------------------------------------------------

    async def put_run(self, record: RunRecord) -> None:
        """Insert or replace a run's record."""
        row: dict[str, Any] = {
            name: _storable(value) if isinstance(value, str) else value
            for name, value in record.items()
        }
        row["run_id"] = key(record["run_id"], "run_id")
        for name in _JSON_COLUMNS:
            row[name] = None if row[name] is None else json.dumps(row[name])
        columns = tuple(name for name in row if name != "run_id")
        async with self._write(reads=False) as conn:
            await conn.execute(self._upsert(runs, columns), row)

    async def get_run(self, run_id: str) -> RunRecord | None:
        """Return a run's record, or ``None``."""
        async with self._read() as conn:
            result = await conn.execute(
                sa.select(runs).where(runs.c.run_id == key(run_id, "run_id"))
            )
            row = result.mappings().first()
        return None if row is None else _run_record(row)

    async def list_runs(self, limit: int | None) -> list[RunRecord]:
        """Return run records, newest first; a damaged one is skipped with a logged warning."""
        query = sa.select(runs).order_by(runs.c.created_at.desc(), runs.c.run_id)
        if limit is not None:
            query = query.limit(limit)
        async with self._read() as conn:
            rows = (await conn.execute(query)).mappings().all()
        records = []
        for row in rows:
            try:
                records.append(_run_record(row))
            except CheckpointError as exc:  # one bad row must not hide every other run
                logger.warning("%s; it is left out of the listing", exc)
        return records

    async def delete_run(self, run_id: str) -> bool:
        """Delete a run's record and its thread; return whether the record existed."""
        run_id = key(run_id, "run_id")
        async with self._write(reads=False) as conn:
            result = await conn.execute(sa.delete(runs).where(runs.c.run_id == run_id))
            await conn.execute(sa.delete(leases).where(leases.c.run_id == run_id))
            for table in (writes, blobs, checkpoints):
                await conn.execute(sa.delete(table).where(table.c.thread_id == run_id))
        return bool(result.rowcount)

    # -- run leases --------------------------------------------------------------------------

    async def take_lease(self, run_id: str, owner: LeaseOwner, now: float) -> Lease | None:
        """Take a free lease for ``owner``; return ``None``, or the holder of a taken one."""
        row = {
            "run_id": key(run_id, "run_id"), "owner": owner.id, "host": owner.host,
            "pid": owner.pid, "acquired_at": now, "renewed_at": now,
        }  # fmt: skip
        async with self._write(reads=False) as conn:
            taken = await conn.execute(self._upsert(leases, ()), row)
            if taken.rowcount == 1:
                return None
            found = await conn.execute(sa.select(leases).where(leases.c.run_id == row["run_id"]))
            holder = found.mappings().first()
        if holder is None:  # released in between: take it now
            return await self.take_lease(run_id, owner, now)
        return _lease(holder)

    async def take_over_lease(self, holder: Lease, owner: LeaseOwner, now: float) -> bool:
        """Replace ``holder``'s lease by ``owner``'s if it is still exactly ``holder``'s."""
        table = leases.c
        async with self._write(reads=False) as conn:
            result = await conn.execute(
                sa.update(leases)
                .where(
                    table.run_id == key(holder.run_id, "run_id"),
                    table.owner == holder.owner.id,
                    table.renewed_at == holder.renewed_at,
                )
                .values(
                    owner=owner.id, host=owner.host, pid=owner.pid, acquired_at=now, renewed_at=now
                )  # fmt: skip
            )
        return bool(result.rowcount)

    async def renew_lease(self, run_id: str, owner: LeaseOwner, now: float) -> bool:
        """Renew ``owner``'s lease; ``False`` when it is not ``owner``'s any more."""
        table = leases.c
        async with self._write(reads=False) as conn:
            result = await conn.execute(
                sa.update(leases)
                .where(table.run_id == key(run_id, "run_id"), table.owner == owner.id)
                .values(renewed_at=now)
            )
        return bool(result.rowcount)

    async def release_lease(self, run_id: str, owner: LeaseOwner) -> None:
        """Give up ``owner``'s lease (nothing happens when it is not ``owner``'s)."""
        table = leases.c
        async with self._write(reads=False) as conn:
            await conn.execute(
                sa.delete(leases).where(
                    table.run_id == key(run_id, "run_id"), table.owner == owner.id
                )
            )

    async def get_leases(self, run_ids: Sequence[str]) -> dict[str, Lease]:
        """The leases of those of ``run_ids`` that have one; a damaged row is left out."""
        found: dict[str, Lease] = {}
        async with self._read() as conn:
            for part in chunks([key(run_id, "run_id") for run_id in run_ids]):
                result = await conn.execute(sa.select(leases).where(leases.c.run_id.in_(part)))
                for row in result.mappings():
                    try:
                        found[row["run_id"]] = _lease(row)
                    except CheckpointError as exc:
                        logger.warning("%s; it is read as no lease", exc)
        return found

    # -- internals ---------------------------------------------------------------------------

    def _read_version(self, connection: sa.Connection) -> int:
        return read_schema_version(connection, schema=self._schema, where=self._where)

    def _migrate(self, connection: sa.Connection, current: int) -> None:
        migrate(connection, schema=self._schema, current=current)

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[AsyncConnection]:
        await self.setup()
        try:
            async with self._engine.connect() as conn:
                yield conn
        except _STORE_ERRORS as exc:
            raise self.error("be read", exc) from exc

    @asynccontextmanager
    async def _write(self, *, reads: bool = True) -> AsyncIterator[AsyncConnection]:
        """A write transaction; ``reads=False`` promises that its first statement writes."""
        await self.setup()
        try:
            if self._write_lock is None:  # PostgreSQL: writers run in parallel, pooled
                async with self._writer.begin() as conn:
                    yield conn
            elif reads:
                async with self._write_lock, self._writer.begin() as conn:
                    yield conn
            else:
                async with self._write_lock:
                    conn = await self._dedicated()
                    try:
                        async with conn.begin():
                            yield conn
                    except BaseException:
                        await self._drop_dedicated()  # a fresh connection for the next write
                        raise
        except _STORE_ERRORS as exc:
            raise self.error("be written", exc) from exc

    async def _dedicated(self) -> AsyncConnection:
        """The connection kept for SQLite writes that start by writing; under the write lock.

        Writes queue on the write lock anyway, so one connection serves them all, with no pool
        checkout and return per write. It holds no lock between transactions.
        """
        conn = self._dml_connection
        if conn is None or conn.closed or conn.invalidated:
            conn = self._dml_connection = await self._dml_writer.connect()
        return conn

    async def _drop_dedicated(self) -> None:
        conn, self._dml_connection = self._dml_connection, None
        if conn is not None:
            with contextlib.suppress(*_STORE_ERRORS):
                # Shielded: a cancelled caller must not leave the connection half closed.
                await asyncio.shield(conn.close())

    def error(self, action: str, exc: Exception) -> CheckpointError:
        """The `CheckpointError` reporting that the store could not ``action``."""
        detail = getattr(exc, "orig", None) or exc
        return CheckpointError(f"{self._where} could not {action}: {detail}")

    def _upsert(self, table: sa.Table, update: tuple[str, ...]) -> sa.Executable:
        """An INSERT that ignores a duplicate key, or updates ``update`` columns on one."""
        return upsert(self._dialect, table, update)
