"""`SqlCheckpointer`: ponder's LangGraph checkpointer on SQLAlchemy 2 async.

One code path serves SQLite (through aiosqlite) and PostgreSQL (through asyncpg). Open one with
`SqlCheckpointer.from_url`, or `SqlCheckpointer.from_conn_string` as LangGraph's savers are
opened (a URL, a SQLite file path, or ``":memory:"``). Values are
always serialized with `StrictSerializer`: no pickle, whatever the caller or the environment
asks. The store is checked before anything is written to it; a foreign, damaged or newer store
raises `CheckpointError` and is left as it was. See `ponder.persistence.schema` for the tables.

Every database call can run on a private event loop in a daemon thread (see
`ponder.persistence._loop` for why), so one saver serves async code on any loop, sync code,
and both at once; most do. On SQLite, the hot calls (``aput``, ``aput_writes``, ``aget_tuple``,
``alist``) take a shorter way: one ``sqlite3`` connection in a worker thread of its own, each
call one function call there (`ponder.persistence._sqlite_fast`); on PostgreSQL they run on
raw asyncpg connections, a put in one statement (`ponder.persistence._pg_fast`): with no
thread hop on one loop at a time, the home loop, while a share of the pool's overflow opened
there is free (`ponder.persistence._pg_caller`), else on connections borrowed from the
engine on the saver's thread. The sync methods
(``get_tuple``, ``list``, ``put``, ...) refuse to run where an event loop is running: there,
await their ``a``-prefixed twins.
"""

from __future__ import annotations

import asyncio
import os
import random
import tempfile
import warnings
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Collection,
    Coroutine,
    Generator,
    Iterator,
    Mapping,
    Sequence,
)
from typing import Any, TypeVar

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    DeltaChannelHistory,
    get_checkpoint_id,
)
from langgraph.checkpoint.serde.base import SerializerProtocol
from sqlalchemy.engine import URL

from ponder._sync import run_sync
from ponder.errors import ConfigurationError
from ponder.persistence._engine import describe
from ponder.persistence._loop import LoopThread, refuse_in_running_loop
from ponder.persistence._pg_caller import CallerLoopPath, split_pool
from ponder.persistence._pg_fast import PgFastPath
from ponder.persistence._rows import checkpoint_rows, key, write_rows
from ponder.persistence._sqlite_fast import SqliteFastPath
from ponder.persistence._store import Cursor, ListQuery, Store
from ponder.persistence.leases import Lease, LeaseOwner
from ponder.persistence.runs import RunRecord
from ponder.persistence.serde import StrictSerializer
from ponder.persistence.url import MEMORY, conn_string_url, parse_db_url

__all__ = ("PRUNE_STRATEGIES", "SqlCheckpointer")

T = TypeVar("T")

PRUNE_STRATEGIES = ("keep_latest", "delete")
"""The strategies `SqlCheckpointer.aprune` accepts.

- ``keep_latest``: keep the newest checkpoint of each namespace (and, for ``DeltaChannel``
  channels, the ancestors and writes needed to rebuild them); delete the rest.
- ``delete``: delete the threads entirely.
"""

_PAGE = 100  # checkpoints read per query while listing


class SqlCheckpointer(BaseCheckpointSaver[str]):
    """A LangGraph checkpointer storing threads in SQLite or PostgreSQL.

    Open it with `from_url` in an ``async with`` (or ``with``) block, which closes it; tables
    are checked and created on first use (or by `setup`). Thread ids and checkpoint
    namespaces are stored as text; channel values once per channel version.

    Example:
        >>> import asyncio, operator, tempfile
        >>> from typing import Annotated, TypedDict
        >>> from langgraph.graph import START, StateGraph
        >>> State = TypedDict("State", {"steps": Annotated[list[str], operator.add]})
        >>> builder = StateGraph(State)
        >>> _ = builder.add_node("think", lambda state: {"steps": ["thought"]})
        >>> _ = builder.add_edge(START, "think")
        >>> async def main(url: str) -> list[str]:
        ...     async with SqlCheckpointer.from_url(url) as saver:
        ...         graph = builder.compile(checkpointer=saver)
        ...         config = {"configurable": {"thread_id": "run-1"}}
        ...         await graph.ainvoke({"steps": ["start"]}, config)
        ...         return (await graph.aget_state(config)).values["steps"]
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     asyncio.run(main(f"sqlite+aiosqlite:///{folder}/run.db"))
        ['start', 'thought']
    """

    def __init__(
        self,
        url: str | URL,
        *,
        schema: str | None = None,
        engine_options: Mapping[str, Any] | None = None,
    ) -> None:
        """Prepare a checkpointer for ``url``; nothing is opened until first use.

        Prefer `from_url`, which reads the same and is the documented spelling.
        """
        super().__init__(serde=StrictSerializer())
        self._url, named = parse_db_url(url)
        if schema is not None and named is not None and schema != named:
            raise ConfigurationError(
                f"the URL names schema {named!r} and schema= names {schema!r}: give one"
            )
        schema = named if schema is None else schema
        self._schema = schema
        self._closed = False
        self._scratch: tempfile.TemporaryDirectory[str] | None = None  # from ":memory:"
        self._runner = LoopThread(f"ponder-checkpointer-{id(self):x}")
        postgres = self._url.get_backend_name() == "postgresql"
        # On PostgreSQL the home loop's connections are a share of the pool (`split_pool`).
        store_options, slots = split_pool(engine_options) if postgres else (engine_options, 0)
        self._store = Store(
            self._url, schema=schema, engine_options=store_options, serde=self.serde
        )
        # The hot calls (put, writes, lookups, listings) on PostgreSQL: raw asyncpg, on the
        # saver's thread, or with no hop on the home loop's own connections.
        self._hot: Store | PgFastPath = self._store
        self._caller: CallerLoopPath | None = None
        if postgres:
            self._hot = PgFastPath(
                self._store.engine,
                schema,
                self.serde,
                setup=self._store.setup,
                error=self._store.error,
            )
        if slots:
            self._caller = CallerLoopPath(
                self._url,
                engine_options,
                schema,
                self.serde,
                slots=slots,
                setup=_ready(self._store, self._runner),
                error=self._store.error,
            )
        # Options in a SQLite URL's query are for aiosqlite: such stores keep to SQLAlchemy.
        self._fast: SqliteFastPath | None = None
        if self._url.get_backend_name() == "sqlite" and not self._url.query:
            self._fast = SqliteFastPath(
                str(self._url.database), self.serde, where=describe(self._url, None)
            )

    @classmethod
    def from_url(
        cls,
        url: str | URL,
        *,
        schema: str | None = None,
        engine_options: Mapping[str, Any] | None = None,
    ) -> SqlCheckpointer:
        """Create a checkpointer for a database URL.

        Args:
            url: ``sqlite+aiosqlite:///path/run.db`` or
                ``postgresql+asyncpg://user@host:5432/db`` (``sqlite:///`` and
                ``postgresql://`` get the async driver), read by
                `ponder.persistence.parse_db_url`.
            schema: PostgreSQL only: the schema holding ponder's tables (created if missing),
                also given as ``?schema=NAME`` in ``url``. A schema that holds other tables
                is refused, so give ponder its own when the database is shared.
            engine_options: Extra keyword arguments for SQLAlchemy's `create_async_engine`
                (``pool_size``, ``echo``, ...). They apply to every connection the saver
                opens, the PostgreSQL fast path's too. On PostgreSQL the pool's limit
                (``pool_size + max_overflow``, 15 by default) holds for all of them: up to
                ``pool_size`` of the overflow serve the hot calls of one event loop with no
                thread hop (a pool with ``max_overflow=0`` keeps every call on the saver's
                thread). For one, ``{"connect_args":
                {"server_settings": {"synchronous_commit": "off"}}}`` is an opt-in that
                trades durability for speed: a commit returns before the server has flushed
                it to disk, so a crash of the server (not of this process) can lose the
                checkpoints it acknowledged in its last moments (up to three times its
                ``wal_writer_delay``: 0.6 s by default), each whole, never half: the store
                stays consistent and a run resumes from its last stored checkpoint.
                PostgreSQL's default, ``on``, waits for the flush.

        Raises:
            ConfigurationError: The URL, backend, driver, schema or options are not usable.
        """
        return cls(url, schema=schema, engine_options=engine_options)

    @classmethod
    def from_conn_string(
        cls,
        conn_string: str | os.PathLike[str] | URL,
        *,
        schema: str | None = None,
        engine_options: Mapping[str, Any] | None = None,
    ) -> SqlCheckpointer:
        """Create a checkpointer as LangGraph's savers do: ``async with ... as saver``.

        The spelling of ``AsyncSqliteSaver.from_conn_string`` and
        ``AsyncPostgresSaver.from_conn_string``; the saver it returns is closed by the
        ``async with`` (or ``with``) block around it.

        Args:
            conn_string: A database URL (as `from_url` takes), the path of a SQLite file
                (``"checkpoints.db"``, created if missing), or ``":memory:"``: a throwaway
                store, a SQLite file in a private temporary directory that is deleted when
                the saver closes (ponder reads and writes a SQLite store on two connections,
                which one in-memory database cannot serve).
            schema: As for `from_url`.
            engine_options: As for `from_url`.

        Raises:
            ConfigurationError: The string, URL, backend, schema or options are not usable.

        Example:
            >>> import asyncio
            >>> async def main() -> None:
            ...     async with SqlCheckpointer.from_conn_string(":memory:") as saver:
            ...         print(await saver.aget_tuple({"configurable": {"thread_id": "t"}}))
            >>> asyncio.run(main())
            None
        """
        scratch: tempfile.TemporaryDirectory[str] | None = None
        if isinstance(conn_string, str) and conn_string == MEMORY:
            scratch = tempfile.TemporaryDirectory(prefix="ponder-memory-")
            conn_string = os.path.join(scratch.name, "checkpoints.db")
        try:
            saver = cls(conn_string_url(conn_string), schema=schema, engine_options=engine_options)
        except BaseException:
            if scratch is not None:
                scratch.cleanup()
            raise
        saver._scratch = scratch
        return saver

    @property
    def serde(self) -> SerializerProtocol:
        """The serializer: always a `StrictSerializer` (no pickle)."""
        return self._serde

    @serde.setter
    def serde(self, value: SerializerProtocol) -> None:
        if not isinstance(value, StrictSerializer):
            raise ConfigurationError(
                "SqlCheckpointer always serializes with ponder's StrictSerializer (no pickle); "
                f"it cannot use {type(value).__name__}"
            )
        self._serde = value

    def with_allowlist(self, extra_allowlist: Collection[tuple[str, ...]]) -> SqlCheckpointer:
        """Return this saver: `StrictSerializer` already revives only LangGraph's safe types."""
        return self

    def __repr__(self) -> str:
        url = self._url.render_as_string(hide_password=True)
        return f"SqlCheckpointer({url!r}, schema={self._schema!r})"

    # -- lifecycle -----------------------------------------------------------------------------

    async def asetup(self) -> None:
        """Check the store and create or migrate its tables; idempotent, done on first use.

        Raises:
            CheckpointError: The store is not ponder's, is damaged, is from a newer ponder,
                or cannot be reached. It is left untouched.
        """
        await self._runner.run(self._store.setup())

    def setup(self) -> Awaitable[None]:
        """`asetup`, for both of LangGraph's conventions: ``saver.setup()`` and ``await``.

        Sync code (no event loop running here) gets the work done before this returns, as
        with ``SqliteSaver.setup()`` / ``PostgresSaver.setup()``; what it returns is already
        done and need not be awaited. Where an event loop is running, it returns `asetup`'s
        coroutine, to await as with ``AsyncPostgresSaver.setup()``:
        ``await saver.setup()``.

        Raises:
            CheckpointError: As `asetup` (when awaited, in async code).
        """
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            run_sync(self.asetup(), name="setup")
            return _Done()
        return self.asetup()

    async def aclose(self) -> None:
        """Close every connection and stop the saver's thread; idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._caller is not None:
                await self._caller.close()
            if self._fast is not None:
                await self._fast.aclose()
            if self._runner.started:
                await self._runner.run(self._dispose())
        finally:
            self._runner.stop()  # also when never started: a closed saver stays closed
            self._remove_scratch()

    def close(self) -> None:
        """Close every connection and stop the saver's thread; idempotent."""
        refuse_in_running_loop("close")
        if self._closed:
            return
        self._closed = True
        try:
            if self._caller is not None:
                self._caller.close_blocking()
            if self._fast is not None:
                self._fast.close()
            if self._runner.started:
                self._runner.call(self._dispose())
        finally:
            self._runner.stop()
            self._remove_scratch()

    async def __aenter__(self) -> SqlCheckpointer:
        return self

    async def __aexit__(self, *_exc_info: object) -> None:
        await self.aclose()

    def __enter__(self) -> SqlCheckpointer:
        return self

    def __exit__(self, *_exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_closed", True) or not self._runner.started:
            return
        self._closed = True
        warnings.warn(
            f"unclosed {self!r}: open it with `async with SqlCheckpointer.from_url(...)` or "
            "call `await saver.aclose()`",
            ResourceWarning,
            stacklevel=2,
        )
        if self._fast is not None:
            self._fast.close(wait=False)
        done = self._runner.submit(self._dispose())
        done.add_done_callback(lambda _: self._runner.stop())

    async def _dispose(self) -> None:
        """Close every connection: the fast path's first, then the engine's pool."""
        if isinstance(self._hot, PgFastPath):
            await self._hot.close()
        await self._store.dispose()

    def _remove_scratch(self) -> None:
        """Delete the temporary directory of a ``":memory:"`` store, once closed."""
        scratch, self._scratch = self._scratch, None
        if scratch is not None:
            scratch.cleanup()

    # -- the async API -------------------------------------------------------------------------

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """Fetch a checkpoint with its values and pending writes.

        Args:
            config: ``configurable.thread_id``, optionally ``checkpoint_ns`` (default ``""``)
                and ``checkpoint_id`` (default: the latest of the namespace).

        Returns:
            The checkpoint tuple, with pending writes in `writes_sort_key` order, or ``None``.
        """
        if fast := await self._afast():
            return await fast.aget_tuple(config)
        return await self._hot_call(lambda hot: hot.get_tuple(config))

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        """List checkpoints, newest first (by checkpoint id).

        Args:
            config: ``None`` for every thread; else ``configurable.thread_id`` (optional),
                ``checkpoint_ns`` (when present, only that namespace) and ``checkpoint_id``.
            filter: Metadata keys and the values they must equal (compared in Python, so any
                key is safe).
            before: Only checkpoints whose id sorts before this config's ``checkpoint_id``.
            limit: At most this many.

        Yields:
            Matching checkpoint tuples.
        """
        pager = _Pager(_list_query(config, filter, before), limit)
        fast = await self._afast()
        while (request := pager.request()) is not None:
            if fast:
                page = await fast.alist_page(*request)
            else:
                page = await self._hot_call(lambda hot: hot.list_page(*request))  # noqa: B023
            for item in pager.take(page):
                yield item

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Store a checkpoint; only channels listed in ``new_versions`` get their value written.

        Args:
            config: The parent's config (``checkpoint_id`` is the parent, if any).
            checkpoint: The checkpoint to store.
            metadata: Its metadata.
            new_versions: The channels whose version changed since the parent.

        Returns:
            The config addressing the stored checkpoint.
        """
        # Encoded here, before any hop: the caller may change the values once it resumes.
        row, blob_rows = checkpoint_rows(self.serde, config, checkpoint, metadata, new_versions)
        if fast := await self._afast():
            return await fast.aput(row, blob_rows)
        return await self._hot_call(lambda hot: hot.put(row, blob_rows))

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """Store a task's pending writes against the checkpoint ``config`` addresses.

        Args:
            config: The config of a stored checkpoint.
            writes: ``(channel, value)`` pairs.
            task_id: The task that made them.
            task_path: The task's path, which orders writes of one step.
        """
        rows, replace = write_rows(self.serde, config, writes, task_id, task_path)
        if not rows:
            return
        if fast := await self._afast():
            await fast.aput_writes(rows, replace)
        else:
            await self._hot_call(lambda hot: hot.put_writes(rows, replace))

    async def adelete_thread(self, thread_id: str) -> None:
        """Delete every checkpoint, value and write of a thread (all namespaces)."""
        await self._runner.run(self._store.delete_threads([thread_id]))

    async def adelete_for_runs(self, run_ids: Sequence[str]) -> None:
        """Delete the checkpoints whose metadata ``run_id`` is listed, with their writes.

        Values no remaining checkpoint uses are deleted too. Deleting a run whose writes a
        later ``DeltaChannel`` checkpoint replays breaks that channel (see LangGraph's note).
        """
        await self._runner.run(self._store.delete_for_runs(list(run_ids)))

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        """Copy a whole thread (every namespace, checkpoint, value and write) to a new id.

        Raises:
            ConfigurationError: The target thread already has checkpoints, or is the source.
        """
        await self._runner.run(self._store.copy_thread(source_thread_id, target_thread_id))

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        """Prune threads; ``strategy`` is one of `PRUNE_STRATEGIES`.

        ``keep_latest`` keeps the newest checkpoint of each namespace with its writes, plus,
        when its metadata names ``DeltaChannel`` channels, the ancestors (and their writes)
        back to the nearest stored value of each, so those channels still rebuild.

        Raises:
            ConfigurationError: Unknown strategy.
        """
        if strategy == "delete":
            await self._runner.run(self._store.delete_threads(list(thread_ids)))
        elif strategy == "keep_latest":
            await self._runner.run(self._store.keep_latest(list(thread_ids)))
        else:
            raise ConfigurationError(
                f"unknown prune strategy {strategy!r}; use one of {', '.join(PRUNE_STRATEGIES)}"
            )

    async def aget_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> Mapping[str, DeltaChannelHistory]:
        """Return, per channel, its nearest stored value up the parent chain and later writes.

        The storage side of LangGraph's ``DeltaChannel`` (beta); same contract as
        `BaseCheckpointSaver.aget_delta_channel_history`, in a few queries instead of one
        `aget_tuple` per ancestor.
        """
        if not channels:
            return {}
        return await self._runner.run(self._store.delta_history(config, list(channels)))

    # -- the run registry --------------------------------------------------------------------

    async def aput_run(self, record: RunRecord) -> None:
        """Insert or replace a run's record in the registry."""
        await self._runner.run(self._store.put_run(record))

    async def aget_run(self, run_id: str) -> RunRecord | None:
        """Return a run's record, or ``None`` when there is no such run."""
        return await self._runner.run(self._store.get_run(run_id))

    async def alist_runs(self, *, limit: int | None = None) -> list[RunRecord]:
        """Return the registry's runs, newest first."""
        return await self._runner.run(self._store.list_runs(limit))

    async def adelete_run(self, run_id: str) -> bool:
        """Delete a run: its record and its whole thread. Returns whether it existed."""
        return await self._runner.run(self._store.delete_run(run_id))

    # -- run leases (see `ponder.persistence.leases`) -------------------------------------------

    async def atake_lease(self, run_id: str, owner: LeaseOwner, *, now: float) -> Lease | None:
        """Take ``run_id``'s lease for ``owner`` if nobody holds it; else return the holder's."""
        return await self._runner.run(self._store.take_lease(run_id, owner, now))

    async def atake_over_lease(self, holder: Lease, owner: LeaseOwner, *, now: float) -> bool:
        """Give a dead ``holder``'s lease to ``owner``, unless it changed since it was read."""
        return await self._runner.run(self._store.take_over_lease(holder, owner, now))

    async def arenew_lease(self, run_id: str, owner: LeaseOwner, *, now: float) -> bool:
        """Renew ``owner``'s lease of ``run_id``; ``False`` when it is no longer ``owner``'s."""
        return await self._runner.run(self._store.renew_lease(run_id, owner, now))

    async def arelease_lease(self, run_id: str, owner: LeaseOwner) -> None:
        """Give up ``owner``'s lease of ``run_id``."""
        await self._runner.run(self._store.release_lease(run_id, owner))

    async def aget_leases(self, run_ids: Sequence[str]) -> dict[str, Lease]:
        """The current leases of those of ``run_ids`` that have one."""
        return await self._runner.run(self._store.get_leases(list(run_ids)))

    async def _hot_call(self, call: Callable[[Store | PgFastPath], Coroutine[Any, Any, T]]) -> T:
        """Run a hot call with no hop when it can (`ponder.persistence._pg_caller`).

        On the home loop's connections when one is free, else on the saver's thread.
        """
        caller = self._caller
        if caller is not None and (path := caller.take() or await caller.bind()) is not None:
            return await call(path)
        return await self._runner.run(call(self._hot))

    async def _afast(self) -> SqliteFastPath | None:
        """The SQLite fast path, once the store is checked and set up; ``None`` elsewhere."""
        if self._fast is not None and not self._store.ready:
            await self.asetup()
        return self._fast

    def _fast_path(self) -> SqliteFastPath | None:
        """Blocking twin of `_afast`."""
        if self._fast is not None and not self._store.ready:
            self._runner.call(self._store.setup())
        return self._fast

    def get_next_version(self, current: str | int | None, channel: None) -> str:
        """Return the version after ``current``: zero-padded counter, random suffix."""
        if current is None:
            number = 0
        elif isinstance(current, int):
            number = current
        else:
            number = int(current.split(".")[0])
        return f"{number + 1:032}.{random.random():016}"

    # -- the sync API: refuse inside a running loop, else run the async method -----------------

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """Blocking twin of `aget_tuple`."""
        refuse_in_running_loop("get_tuple")
        if fast := self._fast_path():
            return fast.get_tuple(config)
        return self._runner.call(self._hot.get_tuple(config))

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Blocking twin of `aput`."""
        refuse_in_running_loop("put")
        row, blob_rows = checkpoint_rows(self.serde, config, checkpoint, metadata, new_versions)
        if fast := self._fast_path():
            return fast.put(row, blob_rows)
        return self._runner.call(self._hot.put(row, blob_rows))

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """Blocking twin of `aput_writes`."""
        refuse_in_running_loop("put_writes")
        rows, replace = write_rows(self.serde, config, writes, task_id, task_path)
        if not rows:
            return
        if fast := self._fast_path():
            fast.put_writes(rows, replace)
        else:
            self._runner.call(self._hot.put_writes(rows, replace))

    def delete_thread(self, thread_id: str) -> None:
        """Blocking twin of `adelete_thread`."""
        refuse_in_running_loop("delete_thread")
        self._runner.call(self._store.delete_threads([thread_id]))

    def delete_for_runs(self, run_ids: Sequence[str]) -> None:
        """Blocking twin of `adelete_for_runs`."""
        refuse_in_running_loop("delete_for_runs")
        self._runner.call(self._store.delete_for_runs(list(run_ids)))

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        """Blocking twin of `acopy_thread`."""
        refuse_in_running_loop("copy_thread")
        self._runner.call(self._store.copy_thread(source_thread_id, target_thread_id))

    def prune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        """Blocking twin of `aprune`."""
        refuse_in_running_loop("prune")
        self._runner.call(self.aprune(thread_ids, strategy=strategy))

    def get_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> Mapping[str, DeltaChannelHistory]:
        """Blocking twin of `aget_delta_channel_history`."""
        refuse_in_running_loop("get_delta_channel_history")
        if not channels:
            return {}
        return self._runner.call(self._store.delta_history(config, list(channels)))

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        """Blocking twin of `alist` (the refusal happens at the call, not at iteration)."""
        refuse_in_running_loop("list")
        return self._iterate(_Pager(_list_query(config, filter, before), limit))

    def _iterate(self, pager: _Pager) -> Iterator[CheckpointTuple]:
        fast = self._fast_path()
        while (request := pager.request()) is not None:
            if fast:
                yield from pager.take(fast.list_page(*request))
            else:
                yield from pager.take(self._runner.call(self._hot.list_page(*request)))


def _ready(store: Store, runner: LoopThread) -> Callable[[], Awaitable[None]]:
    """Check and set up ``store`` on its loop unless done, from any loop.

    A function of the store and its loop only: a method of the saver, held by the saver's
    parts, would make a reference cycle, and the garbage collector would then free the
    connections of an unclosed saver before its finalizer could close them.
    """

    async def ready() -> None:
        if not store.ready:
            await runner.run(store.setup())

    return ready


class _Done:
    """What the sync `SqlCheckpointer.setup` returns: work already done; awaiting it is a no-op."""

    def __await__(self) -> Generator[Any, None, None]:
        return
        yield  # a generator that yields nothing: ``await _Done()`` returns at once


class _Pager:
    """Pages of a listing: what to ask for next, and how much of each answer to keep."""

    def __init__(self, query: ListQuery, limit: int | None) -> None:
        self._query = query
        self._remaining = limit
        self._after: Cursor | None = None
        self._done = False

    def request(self) -> tuple[ListQuery, Cursor | None, int] | None:
        """The next `Store.list_page` arguments, or ``None`` when the listing is complete."""
        if self._done or (self._remaining is not None and self._remaining <= 0):
            return None
        size = _PAGE
        if self._remaining is not None and not self._query.filter:
            size = min(_PAGE, self._remaining)  # no filter: the database applies the limit
        return self._query, self._after, size

    def take(self, page: tuple[list[CheckpointTuple], Cursor | None]) -> list[CheckpointTuple]:
        """Record a page's cursor; return its checkpoints, cut to the limit."""
        found, self._after = page
        self._done = self._after is None
        if self._remaining is not None:
            found = found[: self._remaining]
            self._remaining -= len(found)
        return found


def _list_query(
    config: RunnableConfig | None,
    filter: Mapping[str, Any] | None,
    before: RunnableConfig | None,
) -> ListQuery:
    configurable = (config or {}).get("configurable") or {}
    thread_id = configurable.get("thread_id")
    checkpoint_ns = configurable.get("checkpoint_ns")
    checkpoint_id = configurable.get("checkpoint_id")
    before_id = get_checkpoint_id(before) if before else None
    return ListQuery(
        thread_id=None if thread_id is None else key(thread_id, "thread_id"),
        checkpoint_ns=None if checkpoint_ns is None else key(checkpoint_ns, "checkpoint_ns"),
        checkpoint_id=key(checkpoint_id, "checkpoint_id") if checkpoint_id else None,
        before=key(before_id, "checkpoint_id") if before_id else None,
        filter=dict(filter) if filter else None,
    )
