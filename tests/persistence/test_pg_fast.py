"""The PostgreSQL fast path: one statement per write, its statements, and its failure modes."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import asyncpg
import pytest
import sqlalchemy as sa
from langgraph.checkpoint.conformance.test_utils import (
    generate_checkpoint,
    generate_config,
    generate_metadata,
)
from langgraph.checkpoint.serde.types import ERROR
from sqlalchemy import event

from ponder.errors import CheckpointError
from ponder.persistence import SqlCheckpointer
from ponder.persistence._pg_caller import BIND_AFTER
from ponder.persistence._pg_fast import (
    LISTED_ROWS,
    VALUES_AND_WRITES,
    PgFastPath,
    compiled,
    put_statement,
    writes_statement,
)
from ponder.persistence.schema import blobs, checkpoints, writes
from tests.persistence.conftest import PG_DSN, StoreSpec, pg_fetch


def thread_path(saver: SqlCheckpointer) -> PgFastPath:
    """The fast path on the saver's thread: sync calls, other loops, a busy home."""
    fast = saver._hot  # noqa: SLF001 - test peek
    assert isinstance(fast, PgFastPath)
    return fast


def fast_path(saver: SqlCheckpointer) -> PgFastPath:
    """The fast path of the running loop: the home loop's (`ponder.persistence._pg_caller`)."""
    caller = saver._caller  # noqa: SLF001 - test peek
    assert caller is not None and caller.home is asyncio.get_running_loop()
    assert caller.path is not None
    return caller.path


async def bind_home(saver: SqlCheckpointer) -> None:
    """Make the running loop the saver's home loop (its `BIND_AFTER`-th hot call does)."""
    for _ in range(BIND_AFTER):
        await saver.aget_tuple(generate_config("no such thread"))
    fast_path(saver)


@contextmanager
def statements(saver: SqlCheckpointer) -> Iterator[tuple[list[str], list[str]]]:
    """Record what runs while the block runs: (SQLAlchemy's statements, the fast paths')."""
    through_sqlalchemy: list[str] = []
    through_fast: list[str] = []
    engine = saver._store.engine.sync_engine  # noqa: SLF001 - test peek
    caller = saver._caller  # noqa: SLF001
    paths = [thread_path(saver)] + ([caller.path] if caller and caller.path else [])

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        through_sqlalchemy.append(statement)

    def log(query: Any) -> None:
        if "ponder_" in query.query:  # not asyncpg's type introspection (once per connection)
            through_fast.append(query.query)

    borrows = [fast._borrow for fast in paths]  # noqa: SLF001
    for fast, borrow in zip(paths, borrows, strict=True):
        for borrowed in fast._idle:  # noqa: SLF001 - connections kept from earlier calls
            borrowed.raw.add_query_logger(log)

        async def logged_borrow(borrow: Any = borrow) -> Any:
            borrowed = await borrow()
            borrowed.raw.add_query_logger(log)
            return borrowed

        fast._borrow = logged_borrow  # type: ignore[method-assign]  # noqa: SLF001
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield through_sqlalchemy, through_fast
    finally:
        event.remove(engine, "before_cursor_execute", record)
        for fast, borrow in zip(paths, borrows, strict=True):
            fast._borrow = borrow  # type: ignore[method-assign]  # noqa: SLF001
            for borrowed in fast._idle:  # noqa: SLF001
                borrowed.raw.remove_query_logger(log)


async def put(saver: SqlCheckpointer, thread_id: str, values: dict[str, Any]) -> Any:
    checkpoint = generate_checkpoint(
        channel_values=values, channel_versions=dict.fromkeys(values, 1)
    )
    return await saver.aput(
        generate_config(thread_id), checkpoint, generate_metadata(), dict.fromkeys(values, 1)
    )


def columns(table: sa.Table) -> set[str]:
    return {column.name for column in table.columns}


def numbered(text: str, count: int) -> bool:
    """Whether ``text`` binds exactly the parameters ``$1`` .. ``$count``."""
    found = {int(number) for number in re.findall(r"\$(\d+)", text)}
    return found == set(range(1, count + 1))


@pytest.mark.parametrize("rows", [None, 0, 1, 3])
def test_put_statements_write_every_column_with_bound_values(rows: int | None) -> None:
    text, names, fixed = compiled(put_statement(rows), "some_schema")
    per_row = 0 if rows == 0 else 4 * (1 if rows is None else rows)
    expected = len(columns(checkpoints)) + (0 if rows == 0 else 2) + per_row
    assert len(set(names)) == len(names) == expected and numbered(text, expected)
    assert fixed == {}
    assert "some_schema.ponder_checkpoints" in text
    if rows != 0:
        assert "some_schema.ponder_checkpoint_blobs" in text
        assert f"({', '.join(column.name for column in blobs.columns)})" in text
    assert ("unnest(" in text) is (rows is None)


@pytest.mark.parametrize("rows", [None, 1, 2])
@pytest.mark.parametrize("replace", [False, True])
def test_writes_statements_write_every_column_with_bound_values(
    rows: int | None, replace: bool
) -> None:
    text, names, _ = compiled(writes_statement(replace, rows), None)
    expected = len(columns(writes)) + 4 * ((rows or 1) - 1)
    assert len(set(names)) == len(names) == expected and numbered(text, expected)
    assert ("DO UPDATE" in text) is replace
    assert ("unnest(" in text) is (rows is None)


def test_the_lookup_binds_its_keys() -> None:
    _, names, _ = compiled(VALUES_AND_WRITES, None)
    assert set(names) == {"thread_id", "checkpoint_ns", "channels", "versions", "checkpoint_ids"}


@pytest.mark.parametrize("count", [0, 1, 4, LISTED_ROWS, LISTED_ROWS + 1])
async def test_writes_of_any_size_round_trip(pg_store: StoreSpec, count: int) -> None:
    values = {f"c{index}": [index, "x" * index] for index in range(count)}
    async with pg_store.open() as saver:
        stored = await put(saver, f"size-{count}", values)
        pending = [(f"c{index}", index) for index in range(count + 1)]
        await saver.aput_writes(stored, pending, "task")
        await saver.aput_writes(stored, pending[:1], "task")  # a repeated key: kept as it was
        found = await saver.aget_tuple(stored)
    assert found is not None and found.checkpoint["channel_values"] == values
    assert found.pending_writes == [("task", channel, value) for channel, value in pending]


def index_scans(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    if "Relation Name" in plan:
        yield plan
    for child in plan.get("Plans", ()):
        yield from index_scans(child)


async def test_reads_probe_the_key_of_each_value_and_write_even_in_a_generic_plan(
    pg_store: StoreSpec,
) -> None:
    # asyncpg keeps statements prepared; from the sixth run PostgreSQL may plan them once for
    # any values, knowing neither the arrays' lengths nor (not yet analyzed) the tables' sizes.
    async with pg_store.open() as saver:
        for step in range(20):
            stored = await put(saver, "plan", {"a": step, "b": step})
            await saver.aput_writes(stored, [("a", step)], "task")
    text, names, _ = compiled(VALUES_AND_WRITES, None)
    settings = {"search_path": str(pg_store.schema), "plan_cache_mode": "force_generic_plan"}
    conn = await asyncpg.connect(PG_DSN, server_settings=settings)
    try:
        await conn.execute(f"PREPARE values_and_writes AS {text}")
        nulls = ", ".join(["NULL"] * len(names))  # a generic plan: the values do not matter
        found = await conn.fetchval(f"EXPLAIN (FORMAT JSON) EXECUTE values_and_writes({nulls})")
    finally:
        await conn.close()
    scans = {scan["Relation Name"]: scan for scan in index_scans(json.loads(found)[0]["Plan"])}
    assert set(scans) == {"ponder_checkpoint_blobs", "ponder_checkpoint_writes"}
    blob_key = scans["ponder_checkpoint_blobs"]["Index Cond"]
    assert "version = pairs.version" in blob_key and "channel = pairs.channel" in blob_key
    assert "checkpoint_id = ids.checkpoint_id" in scans["ponder_checkpoint_writes"]["Index Cond"]


async def test_hot_calls_take_the_fast_path_one_statement_per_write(pg_store: StoreSpec) -> None:
    async with pg_store.open() as saver:
        await bind_home(saver)
        with statements(saver) as (through_sqlalchemy, through_fast):
            stored = await put(saver, "hot", {"a": 1, "b": [2]})
            await saver.aput_writes(stored, [("a", 2), ("b", 3)], "task")
            found = await saver.aget_tuple(stored)
            listed = [item async for item in saver.alist(None)]
            await saver.adelete_thread("hot")  # not a hot call: SQLAlchemy's
    assert found is not None and found.pending_writes == [("task", "a", 2), ("task", "b", 3)]
    assert found.checkpoint["channel_values"] == {"a": 1, "b": [2]}
    assert [item.config for item in listed] == [stored]
    assert [statement.split()[0] for statement in through_sqlalchemy] == ["DELETE"] * 3
    kinds = [statement.split()[0] for statement in through_fast]
    assert kinds == ["WITH", "INSERT", "SELECT", "SELECT", "SELECT", "SELECT"]


def test_the_sync_api_takes_the_fast_path_too(pg_store: StoreSpec) -> None:
    with pg_store.open() as saver:
        saver.setup()
        with statements(saver) as (through_sqlalchemy, through_fast):
            stored = saver.put(
                generate_config("sync"),
                generate_checkpoint(channel_values={"a": 1}, channel_versions={"a": 1}),
                generate_metadata(),
                {"a": 1},
            )
            saver.put_writes(stored, [("a", 2)], "task")
            assert saver.get_tuple(stored) is not None
            assert len(list(saver.list(None))) == 1
    assert through_sqlalchemy == []
    assert len(through_fast) == 6


async def test_a_put_is_stored_whole_or_not_at_all(pg_store: StoreSpec) -> None:
    schema = pg_store.schema
    async with pg_store.open() as saver:
        await saver.setup()
        await put(saver, "kept", {"a": 1})
        conn = await asyncpg.connect(PG_DSN, server_settings={"search_path": str(schema)})
        try:  # constant DDL on a schema this test made
            await conn.execute(
                "CREATE FUNCTION refuse() RETURNS trigger AS "
                "$$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$ LANGUAGE plpgsql"
            )
            await conn.execute(
                "CREATE TRIGGER refuse BEFORE INSERT ON ponder_checkpoints "
                "FOR EACH ROW EXECUTE FUNCTION refuse()"
            )
        finally:
            await conn.close()
        with pytest.raises(CheckpointError, match="refused by the test"):
            await put(saver, "refused", {"a": 1, "b": 2})
        # The server's refusal left the connection usable: the next calls run on it.
        assert (await saver.aget_tuple(generate_config("kept"))) is not None
        assert await saver.aget_tuple(generate_config("refused")) is None
    assert pg_fetch(
        "SELECT count(*) FROM ponder_checkpoint_blobs WHERE thread_id = $1", "refused",
        schema=schema,
    ) == [(0,)]  # fmt: skip


async def test_repeated_write_keys_keep_what_the_row_by_row_path_keeps(
    backend: str, store: StoreSpec
) -> None:
    async with store.open() as saver:
        stored = await put(saver, "dupes", {"a": 1})
        # Two errors in one call share the key (task, ERROR's index): the last one stays.
        await saver.aput_writes(stored, [(ERROR, "first"), (ERROR, "second")], "t1")
        # A repeated ordinary write keeps the first value.
        await saver.aput_writes(stored, [("a", "kept")], "t2")
        await saver.aput_writes(stored, [("a", "ignored")], "t2")
        found = await saver.aget_tuple(stored)
    assert found is not None and found.pending_writes is not None
    assert sorted(found.pending_writes) == [("t1", ERROR, "second"), ("t2", "a", "kept")]


async def test_a_lost_connection_is_dropped_and_the_next_call_reconnects(
    pg_store: StoreSpec,
) -> None:
    async with pg_store.open() as saver:
        await bind_home(saver)
        await put(saver, "before", {"a": 1})
        kept = [borrowed.raw for borrowed in fast_path(saver)._idle]  # noqa: SLF001
        assert kept
        conn = await asyncpg.connect(PG_DSN)
        try:
            for raw in kept:
                await conn.execute("SELECT pg_terminate_backend($1)", raw.get_server_pid())
        finally:
            await conn.close()
        failures = 0
        for _ in range(len(kept) + 1):
            try:
                await saver.aget_tuple(generate_config("before"))
            except CheckpointError:
                failures += 1
        assert failures <= len(kept)
        assert (await saver.aget_tuple(generate_config("before"))) is not None
        assert all(raw.is_closed() for raw in kept)


async def test_a_cancelled_put_finishes_and_leaves_the_saver_usable(pg_store: StoreSpec) -> None:
    async with pg_store.open() as saver:
        await saver.setup()
        task = asyncio.create_task(put(saver, "cancelled", {"a": "x" * 100_000}))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        for index in range(10):  # more writes than connections kept
            await put(saver, f"after-{index}", {"a": index})
        await asyncio.gather(*(put(saver, f"together-{index}", {"a": index}) for index in range(8)))
        found = await saver.aget_tuple(generate_config("together-7"))
        assert found is not None and found.checkpoint["channel_values"] == {"a": 7}


async def test_the_fast_path_uses_the_engine_options(pg_store: StoreSpec) -> None:
    options = {"connect_args": {"server_settings": {"application_name": "ponder-fast-test"}}}
    async with SqlCheckpointer.from_url(
        pg_store.url, schema=pg_store.schema, engine_options=options
    ) as saver:
        await bind_home(saver)
        await put(saver, "named", {"a": 1})
        kept = {borrowed.raw.get_server_pid() for borrowed in fast_path(saver)._idle}  # noqa: SLF001
        named = pg_fetch(
            "SELECT pid FROM pg_stat_activity WHERE application_name = $1", "ponder-fast-test"
        )
    assert kept and kept <= {row[0] for row in named}


@pytest.mark.parametrize("setting", [None, "off"])
async def test_synchronous_commit_is_the_servers_unless_opted_out(
    pg_store: StoreSpec, setting: str | None
) -> None:
    # The documented opt-in of SqlCheckpointer.from_url: commits that do not wait for the flush.
    options = {"connect_args": {"server_settings": {"synchronous_commit": setting}}}
    async with SqlCheckpointer.from_url(
        pg_store.url, schema=pg_store.schema, engine_options=options if setting else None
    ) as saver:
        await bind_home(saver)
        await put(saver, "durable", {"a": 1})

        async def show(raw: asyncpg.Connection) -> Any:
            return await raw.fetchval("SHOW synchronous_commit")

        # On the connections the puts use: the home loop's, and the saver's thread's.
        found = [await fast_path(saver)._call(show, "be read")]  # noqa: SLF001
        found.append(await saver._runner.run(thread_path(saver)._call(show, "be read")))  # noqa: SLF001
    assert found == [setting or "on"] * 2
