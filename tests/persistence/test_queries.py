"""How the store talks to the database: index use, transactions, round trips, atomicity.

These guard the speed of `SqlCheckpointer` without timing anything: SQLite's query plans for
the channel-value lookups, the statements one call sends, and that the shortcuts taken for
speed (the SQLite fast path's one call per put or read, the ``BEGIN IMMEDIATE`` the
``sqlite3`` module opens itself, the connection kept for writes, the ``BEGIN`` sent straight to
aiosqlite) never leave a transaction open or half a put behind, even when calls fail or are
cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

import pytest
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.conformance.test_utils import (
    generate_checkpoint,
    generate_config,
    generate_metadata,
)
from sqlalchemy import event

from ponder.errors import CheckpointError
from ponder.persistence import SqlCheckpointer
from ponder.persistence._sqlite_fast import SqliteFastPath
from ponder.persistence.runs import RunRecord
from tests.persistence.conftest import StoreSpec

FULL_KEY = "(thread_id=? AND checkpoint_ns=? AND version=? AND channel=?)"


async def put_step(
    saver: SqlCheckpointer,
    thread_id: str,
    parent: RunnableConfig | None,
    values: dict[str, Any],
    versions: dict[str, Any],
    new_versions: dict[str, Any] | None = None,
    **metadata: Any,
) -> RunnableConfig:
    config = generate_config(thread_id)
    if parent is not None:
        config["configurable"]["checkpoint_id"] = parent["configurable"]["checkpoint_id"]
    checkpoint = generate_checkpoint(channel_values=values, channel_versions=versions)
    return await saver.aput(
        config,
        checkpoint,
        generate_metadata(**metadata),
        versions if new_versions is None else new_versions,
    )


async def fill(saver: SqlCheckpointer, thread_id: str, steps: int) -> list[RunnableConfig]:
    """A thread whose three channels all change at every step."""
    configs: list[RunnableConfig] = []
    parent = None
    for step in range(steps):
        values = {name: f"{name}-{step}" for name in ("a", "b", "c")}
        versions = {name: saver.get_next_version(None, None) for name in values}
        parent = await put_step(saver, thread_id, parent, values, versions, step=step)
        await saver.aput_writes(parent, [("a", f"write-{step}")], f"task-{step}")
        configs.append(parent)
    return configs


def fast_path(saver: SqlCheckpointer) -> SqliteFastPath:
    fast = saver._fast  # noqa: SLF001 - test peek
    assert fast is not None
    return fast


@contextmanager
def sqlite_statements(saver: SqlCheckpointer) -> Iterator[list[tuple[str, Any]]]:
    """Record the statements (and parameters) sent while the block runs, by either path.

    SQLAlchemy's come with their parameters; the fast path's come from SQLite's trace, with
    their values written in (the trace expands them), and no parameters. The store must be
    set up already.
    """
    seen: list[tuple[str, Any]] = []
    engine = saver._store._engine.sync_engine  # noqa: SLF001 - test peek

    def record(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        seen.append((statement, params))

    fast = fast_path(saver)
    event.listen(engine, "before_cursor_execute", record)
    fast.call(fast.trace, lambda statement: seen.append((statement, ())))
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)
        fast.call(fast.trace, None)


async def sqlite_trace(saver: SqlCheckpointer) -> list[str]:
    """Set the store up; trace every SQL statement SQLite runs for the saver from then on.

    Unlike SQLAlchemy's events, this sees what the ``sqlite3`` module sends on its own (its
    implicit ``BEGIN IMMEDIATE``), what is sent straight to aiosqlite (``BEGIN``), and the
    fast path's statements.
    """
    seen: list[str] = []
    engine = saver._store._engine.sync_engine  # noqa: SLF001 - test peek

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.run_async(lambda driver: driver.set_trace_callback(seen.append))

    event.listen(engine, "connect", on_connect)  # before the first connection opens
    await saver.setup()
    fast = fast_path(saver)
    await fast.run(fast.trace, seen.append)  # after setup: only a checked store is opened
    seen.clear()
    return seen


def verbs(statements: list[str]) -> list[str]:
    """Each statement's first words: ``BEGIN IMMEDIATE``, ``INSERT INTO <table>``, ..."""
    found = []
    for statement in statements:
        words = statement.split()
        if words[0] == "INSERT":
            found.append(f"INSERT {words[2]}")
        elif words[0] == "BEGIN":
            found.append(" ".join(words[:2]))
        else:
            found.append(words[0])
    return found


def plans(store: StoreSpec, statements: list[tuple[str, Any]]) -> list[str]:
    """SQLite's plan for each statement, as one line per statement."""
    assert store.path is not None
    with sqlite3.connect(store.path) as conn:
        return [
            " / ".join(row[-1] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params))
            for sql, params in statements
        ]


# -- index use -----------------------------------------------------------------------------


async def test_value_lookups_search_the_whole_primary_key(
    saver: SqlCheckpointer, store: StoreSpec
) -> None:
    if store.path is None:
        pytest.skip("query plans are checked on SQLite, whose planner needed the rewrite")
    configs = await fill(saver, "plan", 40)
    await fill(saver, "other", 5)  # values of another thread the lookups must not read
    with sqlite_statements(saver) as seen:
        await saver.aget_tuple(generate_config("plan"))
        await saver.aget_tuple(configs[3])
        _ = [item async for item in saver.alist(generate_config("plan"))]
        await saver.aget_delta_channel_history(config=configs[-1], channels=["a"])
    lookups = [(sql, params) for sql, params in seen if "ponder_checkpoint_blobs" in sql]
    assert len(lookups) >= 4
    for (sql, _), plan in zip(lookups, plans(store, lookups), strict=True):
        assert "SEARCH ponder_checkpoint_blobs" in plan, sql
        assert FULL_KEY in plan, (sql, plan)


async def test_unused_values_are_deleted_by_the_whole_primary_key(
    saver: SqlCheckpointer, store: StoreSpec
) -> None:
    if store.path is None:
        pytest.skip("query plans are checked on SQLite, whose planner needed the rewrite")
    await fill(saver, "prune", 30)
    with sqlite_statements(saver) as seen:
        await saver.aprune(["prune"], strategy="keep_latest")
    deletes = [
        (sql, params)
        for sql, params in seen
        if sql.startswith("DELETE FROM ponder_checkpoint_blobs")
    ]
    assert deletes
    for (sql, _), plan in zip(deletes, plans(store, deletes), strict=True):
        assert FULL_KEY in plan, (sql, plan)
    assert store.query("SELECT count(*) FROM ponder_checkpoint_blobs") == [(3,)]


async def test_values_are_matched_by_exact_channel_and_version(saver: SqlCheckpointer) -> None:
    # Versions shared across channels: looking up (a, 1) and (b, 2) by "channel IN (a, b)
    # AND version IN (1, 2)" also finds (a, 2) and (b, 1), which must not be taken for them,
    # nor deleted with them.
    first = await put_step(saver, "pairs", None, {"a": "a1", "b": "b2"}, {"a": 1, "b": 2})
    second = await put_step(saver, "pairs", first, {"a": "a2", "b": "b1"}, {"a": 2, "b": 1})
    for config, expected in ((first, {"a": "a1", "b": "b2"}), (second, {"a": "a2", "b": "b1"})):
        found = await saver.aget_tuple(config)
        assert found is not None and found.checkpoint["channel_values"] == expected
    listed = [item.checkpoint["channel_values"] async for item in saver.alist(None)]
    assert listed == [{"a": "a2", "b": "b1"}, {"a": "a1", "b": "b2"}]
    await saver.aprune(["pairs"], strategy="keep_latest")
    found = await saver.aget_tuple(generate_config("pairs"))
    assert found is not None and found.checkpoint["channel_values"] == {"a": "a2", "b": "b1"}


async def test_a_page_naming_more_values_than_one_query_binds(saver: SqlCheckpointer) -> None:
    # Six channels new at every step: a page of 100 checkpoints names 600 values, more than
    # one lookup binds (500); the rest come in a second query, which has no writes to read.
    channels = [f"c{index}" for index in range(6)]
    expected: dict[str, dict[str, Any]] = {}
    parent: RunnableConfig | None = None
    for step in range(110):
        values = {name: f"{name}-{step}" for name in channels}
        versions = {name: saver.get_next_version(None, None) for name in channels}
        parent = await put_step(saver, "wide", parent, values, versions)
        expected[parent["configurable"]["checkpoint_id"]] = values
    assert parent is not None
    await saver.aput_writes(parent, [("c0", "written")], "task")
    found = {item.checkpoint["id"]: item async for item in saver.alist(generate_config("wide"))}
    assert {name: item.checkpoint["channel_values"] for name, item in found.items()} == expected
    latest = found[parent["configurable"]["checkpoint_id"]]
    assert latest.pending_writes == [("task", "c0", "written")]


# -- transactions and round trips -------------------------------------------------------------


async def test_sqlite_calls_send_one_transaction_each(store: StoreSpec) -> None:
    if store.path is None:
        pytest.skip("SQLite's transaction control; PostgreSQL's is asyncpg's")
    async with store.open() as saver:
        trace = await sqlite_trace(saver)
        parent = await put_step(saver, "trace", None, {"a": 1, "b": 2}, {"a": "1", "b": "1"})
        # The hot calls go the fast path: one call in its thread, one transaction each.
        assert verbs(trace) == [
            "BEGIN IMMEDIATE",
            "INSERT ponder_checkpoint_blobs",
            "INSERT ponder_checkpoint_blobs",
            "INSERT ponder_checkpoints",
            "COMMIT",
        ]
        trace.clear()
        await saver.aput_writes(parent, [("a", 3), ("b", 4)], "task")
        assert verbs(trace) == [
            "BEGIN IMMEDIATE",
            "INSERT ponder_checkpoint_writes",
            "INSERT ponder_checkpoint_writes",
            "COMMIT",
        ]
        trace.clear()
        found = await saver.aget_tuple(parent)
        assert found is not None and found.checkpoint["channel_values"] == {"a": 1, "b": 2}
        # One snapshot for both reads, ended once.
        assert verbs(trace) == ["BEGIN", "SELECT", "SELECT", "COMMIT"]
        trace.clear()
        # SQLAlchemy's path (reads first: explicit BEGIN IMMEDIATE).
        await saver.aprune(["trace"], strategy="keep_latest")
        assert verbs(trace)[:2] == ["BEGIN IMMEDIATE", "SELECT"]
        assert "COMMIT" in verbs(trace)
        trace.clear()
        await saver.aput_run(run_record("trace"))  # starts with an INSERT: implicit BEGIN
        assert verbs(trace) == ["BEGIN IMMEDIATE", "INSERT ponder_runs", "COMMIT"]


def run_record(run_id: str) -> RunRecord:
    record: dict[str, Any] = {
        "run_id": run_id,
        "strategy": "s",
        "problem": "p",
        "options": {},
        "model": None,
        "verifier": None,
        "settings": None,
        "budget": {},
        "seed": 0,
        "status": "done",
        "stop_reason": None,
        "answer": None,
        "tokens": 0,
        "calls": 0,
        "seconds": 0.0,
        "parent_run_id": None,
        "created_at": 0.0,
        "updated_at": 0.0,
    }
    return cast(RunRecord, record)


def idle(store: StoreSpec) -> bool:
    """Whether no connection holds a snapshot or the write lock: a full WAL checkpoint runs."""
    assert store.path is not None
    with sqlite3.connect(store.path) as conn:
        busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    return bool(busy == 0)


async def test_no_sqlite_transaction_outlives_a_call(store: StoreSpec) -> None:
    if store.path is None:
        pytest.skip("SQLite's locks; PostgreSQL connections are reset by asyncpg")
    async with store.open() as saver:
        configs = await fill(saver, "idle", 3)
        assert idle(store)
        await saver.aget_tuple(configs[0])
        _ = [item async for item in saver.alist(None)]
        assert idle(store)
        await saver.aput_run(run_record("idle"))
        assert await saver.aget_run("idle") is not None
        await saver.aprune(["idle"], strategy="keep_latest")
        await saver.adelete_thread("idle")
        assert idle(store)


async def test_a_failed_sqlite_put_leaves_nothing_and_the_next_one_works(
    store: StoreSpec,
) -> None:
    if store.path is None:
        pytest.skip("a trigger in SQLite's syntax makes the second statement of a put fail")
    async with store.open() as saver:
        await saver.setup()
        with sqlite3.connect(store.path) as conn:
            conn.execute(
                "CREATE TRIGGER refuse BEFORE INSERT ON ponder_checkpoints "
                "BEGIN SELECT RAISE(ABORT, 'refused by test'); END"
            )
        with pytest.raises(CheckpointError, match="refused by test"):
            await put_step(saver, "fail", None, {"a": "lost"}, {"a": "1"})
        # The values went in first, in the same transaction: rolled back with it.
        assert store.query("SELECT count(*) FROM ponder_checkpoint_blobs") == [(0,)]
        assert idle(store)
        with sqlite3.connect(store.path) as conn:
            conn.execute("DROP TRIGGER refuse")
        stored = await put_step(saver, "fail", None, {"a": "kept"}, {"a": "2"})
        found = await saver.aget_tuple(stored)
        assert found is not None and found.checkpoint["channel_values"] == {"a": "kept"}


async def cancel_calls(
    saver: SqlCheckpointer, store: StoreSpec
) -> tuple[dict[str, dict[str, Any]], RunnableConfig | None]:
    """Puts and reads cancelled after 0 to 10 ms; return the puts that returned, and the last."""
    expected: dict[str, dict[str, Any]] = {}
    parent: RunnableConfig | None = None
    for attempt in range(40):
        values = {"a": f"a-{attempt}", "b": f"b-{attempt}"}
        versions = {name: saver.get_next_version(None, None) for name in values}
        try:
            stored = await asyncio.wait_for(
                put_step(saver, "cancel", parent, values, versions), timeout=attempt / 4_000
            )
        except asyncio.TimeoutError:
            stored = None
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(saver.aget_tuple(generate_config("cancel")), attempt / 8_000)
        if store.path is not None:
            # No cancelled call's connection was closed with a statement still open: SQLite
            # would keep that connection, and its locks, until the garbage collector came by.
            assert idle(store), attempt
        if stored is not None:
            expected[stored["configurable"]["checkpoint_id"]] = values
            parent = stored
    return expected, parent


async def test_cancelled_calls_are_all_or_nothing_and_leave_no_lock(
    saver: SqlCheckpointer, store: StoreSpec
) -> None:
    # Timeouts from 0 to 10 ms: the first ones cancel the store's setup (on first use), later
    # ones cancel puts and reads at any point of their transaction, or none. The garbage
    # collector is off, so that it cannot free a lock left behind before `idle` looks.
    gc.disable()
    try:
        expected, parent = await cancel_calls(saver, store)
    finally:
        gc.enable()
    stored = await put_step(saver, "cancel", parent, {"a": "last"}, {"a": "last"})
    expected[stored["configurable"]["checkpoint_id"]] = {"a": "last"}
    found = {
        item.checkpoint["id"]: item.checkpoint["channel_values"]
        async for item in saver.alist(generate_config("cancel"))
    }
    # A cancelled put may still have committed (the database had it already); every stored
    # checkpoint has all its values, and every put that returned is stored.
    assert expected.items() <= found.items()
    for values in found.values():
        assert values == {"a": "last"} or sorted(values) == ["a", "b"]
