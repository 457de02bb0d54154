"""Run stores: ponder's runs in any LangGraph checkpoint saver.

Where a run is kept is named by ``db=`` (the API) or ``--db`` (the command line), one of:

- a database URL for ponder's own `ponder.persistence.SqlCheckpointer`
  (``sqlite+aiosqlite:///ponder.db``, ``postgresql+asyncpg://...``; plain ``sqlite:///``
  and ``postgresql://`` too);
- a URL naming one of LangGraph's official savers (``langgraph+sqlite:///runs.db``,
  ``langgraph+postgres://user@host/db``; see `ponder.persistence.savers`);
- a LangGraph `BaseCheckpointSaver` object (the API only): ``InMemorySaver``,
  ``AsyncSqliteSaver``, ``SqliteSaver``, ``AsyncPostgresSaver``, ``PostgresSaver``, a
  `SqlCheckpointer`, or any other. The caller opened it and closes it.

`open_store` opens one as a `RunStore`, which lists, reads and records runs:

- every run ponder starts carries its record in the metadata of each of its checkpoints
  (`ponder.persistence.runs.run_marks`); its status, answer and spend are read from its
  latest checkpoint. Listing runs is one ``alist(None, filter={"ponder": "run"})`` over
  the saver, which reads every checkpoint of every run: fine for hundreds of runs;
- in a `SqlCheckpointer` the record is also a row of the run registry, kept current as the
  run spends: listing reads those rows (the fast path), and only one process at a time works
  on a run (`ponder.persistence.leases`). Other savers have no leases: a second process
  resuming the same run is not refused, and a run whose process died is listed as
  ``running`` (``ponder resume`` continues it);
- a thread of a user's own graph with a ponder strategy inside (`ponder.build_strategy`
  added as a node) is found by its strategy's marks (`ponder.persistence.runs.strategy_marks`):
  it is listed with its thread id as run id and the strategy's namespace under
  ``namespace``, and can be shown and re-scored. ponder does not resume or fork it: the
  user's graph does (``graph.invoke(Command(resume=...), config)``).

Example:
    >>> import asyncio
    >>> from langgraph.checkpoint.memory import InMemorySaver
    >>> async def runs_in(saver: InMemorySaver) -> list[str]:
    ...     async with open_store(saver) as store:
    ...         return [record["run_id"] for record in await store.alist_runs()]
    >>> asyncio.run(runs_in(InMemorySaver()))
    []
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import datetime
from typing import Any, cast, get_type_hints

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver, CheckpointTuple
from langgraph.checkpoint.serde.types import ERROR, INTERRUPT

from ponder.errors import CheckpointError
from ponder.nodes.select import provisional_answer
from ponder.persistence.leases import Lease, hold_lease
from ponder.persistence.runs import MARK, RECORD_KEY, STRATEGY_KEY, RunRecord, RunStatus
from ponder.persistence.savers import async_saver, is_saver_url, open_saver
from ponder.persistence.sqlalchemy import SqlCheckpointer
from ponder.persistence.url import parse_db_url
from ponder.state import StopReason

__all__ = ("Db", "RunStore", "SaverRunStore", "SqlRunStore", "open_store")

logger = logging.getLogger(__name__)

Db = str | BaseCheckpointSaver[Any]
"""Where runs are kept: a database URL, a LangGraph saver URL, or a saver object."""


def open_store(db: Db) -> contextlib.AbstractAsyncContextManager[RunStore]:
    """Open the run store ``db`` names (``async with``); what is opened here is closed after.

    A saver given as an object is the caller's: it is used as it is (a sync-only one through
    `ponder.persistence.savers.SyncSaver`) and not closed.

    Raises:
        ConfigurationError: ``db`` is not a usable URL or saver.

    Example:
        >>> import asyncio
        >>> async def main() -> str:
        ...     async with open_store("postgresql://postgres@127.0.0.1/test") as store:
        ...         return type(store).__name__
        >>> asyncio.run(main())
        'SqlRunStore'
    """
    if isinstance(db, str) and not is_saver_url(db):
        parse_db_url(db)  # a bad URL is refused here, before anything is opened
    elif not isinstance(db, str):
        db = async_saver(db)
    return _opened(db)


@contextlib.asynccontextmanager
async def _opened(db: Db) -> AsyncIterator[RunStore]:
    if isinstance(db, SqlCheckpointer):
        yield SqlRunStore(db)
    elif isinstance(db, str) and is_saver_url(db):
        async with open_saver(db) as saver:
            yield SaverRunStore(saver)
    elif isinstance(db, str):
        async with SqlCheckpointer.from_url(db) as sql:
            yield SqlRunStore(sql)
    else:
        yield SaverRunStore(db)


def _namespace(item: CheckpointTuple) -> str:
    return str(item.config["configurable"].get("checkpoint_ns", ""))


def _thread(item: CheckpointTuple) -> str:
    return str(item.config["configurable"]["thread_id"])


def _when(item: CheckpointTuple) -> float:
    try:
        return datetime.fromisoformat(str(item.checkpoint["ts"])).timestamp()
    except (KeyError, ValueError):
        return 0.0


_RECORD_TYPES = get_type_hints(RunRecord)


def _decode(raw: object, thread_id: str) -> RunRecord:
    """The record a checkpoint's metadata holds (JSON under `RECORD_KEY`).

    Raises:
        CheckpointError: It is not a run record.
    """
    try:
        record = json.loads(raw) if isinstance(raw, str) else None
    except ValueError:
        record = None
    wanted = set(_RECORD_TYPES) - {"namespace"}
    missing = sorted(wanted - set(record)) if isinstance(record, dict) else None
    if record is None or missing or record.get("run_id") != thread_id:
        raise CheckpointError(
            f"the record of run {thread_id!r} in its checkpoints' metadata is damaged "
            f"({'missing ' + ', '.join(missing) if missing else 'not a run record'}); "
            "remove the run or fork an earlier checkpoint"
        )
    return cast(RunRecord, record)


def _progress(item: CheckpointTuple) -> dict[str, Any]:
    """Status, stop reason, answer, budget and spend, as a run's latest checkpoint says."""
    values = item.checkpoint["channel_values"]
    status: RunStatus = "running"
    stop: StopReason | None = None
    answer = None
    writes = item.pending_writes or []
    interrupts = [value for _, channel, value in writes if channel == INTERRUPT]
    if interrupts:
        found = interrupts[0]
        first = found[0] if isinstance(found, (list, tuple)) and found else found
        value = getattr(first, "value", first)
        approval = isinstance(value, dict) and value.get("reason") == "approval"
        status, stop = "paused", "approval" if approval else "budget"
        answer = provisional_answer(list(values.get("candidates", [])))
    elif any(channel == ERROR for _, channel, _ in writes):
        status, stop = "failed", "error"
    elif values.get("status") in ("done", "failed"):
        status, stop, answer = values["status"], values.get("stop_reason"), values.get("answer")
    ledger = cast(list[dict[str, Any]], values.get("ledger", []))
    progress: dict[str, Any] = {
        "status": status, "stop_reason": stop, "answer": answer,
        "tokens": sum(e["tokens_in"] + e["tokens_out"] for e in ledger), "calls": len(ledger),
    }  # fmt: skip
    if isinstance(values.get("budget"), dict):
        progress["budget"] = values["budget"]
    return progress


def _run_record(latest: CheckpointTuple) -> RunRecord:
    """A ponder run's record: the one its latest checkpoint carries, brought up to date.

    The carried record is as the run's latest session started (its ``updated_at`` then, and
    ``seconds`` spent before it); the session's time runs to the checkpoint's.
    """
    record = _decode(latest.metadata.get(RECORD_KEY), _thread(latest))
    when = _when(latest)
    record.update(_progress(latest))  # type: ignore[typeddict-item]
    record["seconds"] = float(record["seconds"]) + max(0.0, when - float(record["updated_at"]))
    record["updated_at"] = max(when, float(record["updated_at"]))
    return record


def _strategy_root(namespace: str, marked: set[str]) -> str:
    """The outermost marked namespace ``namespace`` lies in (a strategy in a strategy is one)."""
    parts = namespace.split("|")
    for end in range(1, len(parts) + 1):
        prefix = "|".join(parts[:end])
        if prefix in marked:
            return prefix
    return namespace


def _graph_record(thread_id: str, items: Sequence[CheckpointTuple]) -> RunRecord | None:
    """The record of a user's graph thread, from its strategy's checkpoints (any order)."""
    if not items:
        return None
    ordered = sorted(items, key=lambda item: item.checkpoint["id"], reverse=True)
    root = _strategy_root(_namespace(ordered[0]), {_namespace(item) for item in ordered})
    own = [item for item in ordered if _namespace(item) == root]
    latest, first = own[0], own[-1]
    values = latest.checkpoint["channel_values"]
    problem = values.get("problem")
    budget = values.get("budget")
    record = RunRecord(
        run_id=thread_id, strategy=str(latest.metadata.get(STRATEGY_KEY, "unknown")),
        problem=problem if isinstance(problem, str) else "", options={}, model=None,
        verifier=None, settings=None, budget=budget if isinstance(budget, dict) else {},  # type: ignore[typeddict-item]
        seed=0, status="running", stop_reason=None, answer=None, tokens=0, calls=0,
        seconds=max(0.0, _when(latest) - _when(first)), parent_run_id=None,
        created_at=_when(first), updated_at=_when(latest), namespace=root,
    )  # fmt: skip
    record.update(_progress(latest))  # type: ignore[typeddict-item]
    return record


def _graph_records(items: Iterable[CheckpointTuple], skip: set[str]) -> list[RunRecord]:
    by_thread: dict[str, list[CheckpointTuple]] = {}
    for item in items:
        if _thread(item) not in skip:
            by_thread.setdefault(_thread(item), []).append(item)
    found = [_graph_record(thread, group) for thread, group in by_thread.items()]
    return [record for record in found if record is not None]


def _newest(records: list[RunRecord], limit: int | None) -> list[RunRecord]:
    records.sort(key=lambda record: (-record["created_at"], record["run_id"]))
    return records if limit is None else records[:limit]


class RunStore:
    """The runs kept in one LangGraph saver (see the module); open one with `open_store`."""

    def __init__(self, saver: BaseCheckpointSaver[Any]) -> None:
        """Keep runs in ``saver``."""
        self.saver = saver
        """The saver holding the runs' checkpoints."""

    async def aget_run(self, run_id: str) -> RunRecord | None:
        """Return run ``run_id``'s record (a user's graph thread's too), or ``None``.

        Raises:
            CheckpointError: The record is damaged.
        """
        latest = await self.saver.aget_tuple(
            {"configurable": {"thread_id": run_id, "checkpoint_ns": ""}}
        )
        if latest is not None and latest.metadata.get(MARK) == "run":
            return _run_record(latest)
        return await self.agraph_thread(run_id)

    async def agraph_thread(self, thread_id: str) -> RunRecord | None:
        """The record of a user's graph thread with a ponder strategy in it, or ``None``."""
        items = [
            item
            async for item in self.saver.alist(
                {"configurable": {"thread_id": thread_id}}, filter={MARK: "strategy"}
            )
        ]
        return _graph_record(thread_id, items)

    async def aput_run(self, record: RunRecord) -> None:
        """Record ``record``: nothing to do here, its checkpoints carry it."""

    async def alist_runs(self, *, limit: int | None = None) -> list[RunRecord]:
        """Every run (user's graph threads included), newest first."""
        latest: dict[str, CheckpointTuple] = {}
        async for item in self.saver.alist(None, filter={MARK: "run"}):
            if _namespace(item) != "":
                continue
            known = latest.get(_thread(item))
            if known is None or known.checkpoint["id"] < item.checkpoint["id"]:
                latest[_thread(item)] = item
        records: list[RunRecord] = []
        for item in latest.values():
            try:
                records.append(_run_record(item))
            except CheckpointError as exc:  # one bad run must not hide every other
                logger.warning("%s; it is left out of the listing", exc)
        records += await self._graph_threads(skip=set(latest))
        return _newest(records, limit)

    async def _graph_threads(self, *, skip: set[str]) -> list[RunRecord]:
        items = [item async for item in self.saver.alist(None, filter={MARK: "strategy"})]
        return _graph_records(items, skip)

    async def adelete_run(self, run_id: str) -> bool:
        """Delete run ``run_id``'s checkpoints; return whether it was a run here."""
        if await self.aget_run(run_id) is None:
            return False
        await self.saver.adelete_thread(run_id)
        return True

    def lease(self, run_id: str) -> contextlib.AbstractAsyncContextManager[Any]:
        """Hold run ``run_id`` for the block: nothing is held in a saver without leases."""
        return contextlib.nullcontext()

    async def aget_leases(self, run_ids: Sequence[str]) -> dict[str, Lease]:
        """The leases held on these runs: none, without leases."""
        return {}

    @property
    def has_leases(self) -> bool:
        """Whether one process at a time works on a run here (only a `SqlCheckpointer`)."""
        return False

    async def acheckpoints(self, record: RunRecord) -> list[CheckpointTuple]:
        """The checkpoints of ``record``'s run, every namespace, in any order.

        For a user's graph thread: its strategy's only, their namespaces relative to it
        (the strategy's own is ``""``), as for a run ponder started.
        """
        config: RunnableConfig = {"configurable": {"thread_id": record["run_id"]}}
        items = [item async for item in self.saver.alist(config)]
        root = record.get("namespace")
        if root is None:
            return items
        kept = []
        for item in items:
            namespace = _namespace(item)
            if namespace == root or namespace.startswith(root + "|"):
                inner = namespace[len(root) + 1 :]
                configurable = {**item.config["configurable"], "checkpoint_ns": inner}
                kept.append(item._replace(config={**item.config, "configurable": configurable}))
        return kept

    def strategy_config(
        self, record: RunRecord, checkpoint_id: str | None = None
    ) -> RunnableConfig:
        """The config that reads ``record``'s strategy state (its latest, or one checkpoint)."""
        configurable: dict[str, Any] = {
            "thread_id": record["run_id"], "checkpoint_ns": record.get("namespace", ""),
        }  # fmt: skip
        if checkpoint_id is not None:
            configurable["checkpoint_id"] = checkpoint_id
        return {"configurable": configurable}


class SaverRunStore(RunStore):
    """Runs in any LangGraph saver: records read from checkpoint metadata, no leases."""


class SqlRunStore(RunStore):
    """Runs in a `SqlCheckpointer`: the run registry's rows first, leases held."""

    saver: SqlCheckpointer

    def __init__(self, saver: SqlCheckpointer) -> None:
        """Keep runs in ``saver`` and its registry."""
        super().__init__(saver)

    async def aget_run(self, run_id: str) -> RunRecord | None:
        """Return run ``run_id``'s registry record, else a user's graph thread's, or ``None``."""
        record = await self.saver.aget_run(run_id)
        return record if record is not None else await self.agraph_thread(run_id)

    async def aput_run(self, record: RunRecord) -> None:
        """Write ``record`` to the registry."""
        await self.saver.aput_run(record)

    async def alist_runs(self, *, limit: int | None = None) -> list[RunRecord]:
        """The registry's runs and the user's graph threads, newest first."""
        records = await self.saver.alist_runs(limit=limit)
        known = {record["run_id"] for record in records}
        return _newest(records + await self._graph_threads(skip=known), limit)

    async def adelete_run(self, run_id: str) -> bool:
        """Delete run ``run_id``'s record and checkpoints; return whether it existed."""
        return await self.saver.adelete_run(run_id)

    def lease(self, run_id: str) -> contextlib.AbstractAsyncContextManager[Any]:
        """Hold run ``run_id``'s lease for the block (`ponder.persistence.leases.hold_lease`)."""
        return hold_lease(self.saver, run_id)

    async def aget_leases(self, run_ids: Sequence[str]) -> dict[str, Lease]:
        """The leases held on these runs."""
        return await self.saver.aget_leases(run_ids)

    @property
    def has_leases(self) -> bool:
        """Whether one process at a time works on a run here: yes."""
        return True
