"""The SQLite fast path: which calls take it, group commit, and its edge cases."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.conformance.test_utils import (
    generate_checkpoint,
    generate_config,
    generate_metadata,
)
from sqlalchemy import event

from ponder.errors import CheckpointError
from ponder.persistence import SqlCheckpointer
from ponder.persistence._hydrate import CHECKPOINT_COLUMNS
from ponder.persistence._sqlite_fast import CheckpointRow, SqliteFastPath
from tests.persistence.conftest import StoreSpec


def fast_path(saver: SqlCheckpointer) -> SqliteFastPath:
    fast = saver._fast  # noqa: SLF001 - test peek
    assert fast is not None
    return fast


@contextmanager
def statements(saver: SqlCheckpointer) -> Iterator[tuple[list[str], list[str]]]:
    """Record what runs while the block runs: (SQLAlchemy's statements, the fast path's)."""
    through_sqlalchemy: list[str] = []
    through_fast: list[str] = []
    engine = saver._store._engine.sync_engine  # noqa: SLF001 - test peek

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        through_sqlalchemy.append(statement)

    fast = fast_path(saver)
    event.listen(engine, "before_cursor_execute", record)
    fast.call(fast.trace, through_fast.append)
    try:
        yield through_sqlalchemy, through_fast
    finally:
        event.remove(engine, "before_cursor_execute", record)
        fast.call(fast.trace, None)


def first_words(trace: list[str]) -> list[str]:
    return [" ".join(statement.split()[:2]) for statement in trace]


async def put(
    saver: SqlCheckpointer, thread_id: str, values: dict[str, Any]
) -> dict[str, Any] | None:
    checkpoint = generate_checkpoint(
        channel_values=values, channel_versions=dict.fromkeys(values, 1)
    )
    config = await saver.aput(
        generate_config(thread_id), checkpoint, generate_metadata(), dict.fromkeys(values, 1)
    )
    return dict(config["configurable"])


def test_rows_are_read_in_the_order_of_the_checkpoint_columns() -> None:
    assert CheckpointRow._fields == tuple(column.name for column in CHECKPOINT_COLUMNS)


def sqlite_store(tmp_path: Path) -> StoreSpec:
    path = tmp_path / "fast.db"
    return StoreSpec("sqlite", f"sqlite+aiosqlite:///{path}", path=path)


async def test_hot_calls_take_the_fast_path(tmp_path: Path) -> None:
    async with sqlite_store(tmp_path).open() as saver:
        await saver.setup()
        with statements(saver) as (through_sqlalchemy, through_fast):
            stored = await saver.aput(
                generate_config("hot"),
                generate_checkpoint(channel_values={"a": 1}, channel_versions={"a": 1}),
                generate_metadata(),
                {"a": 1},
            )
            await saver.aput_writes(stored, [("a", 2)], "task")
            found = await saver.aget_tuple(stored)
            listed = [item async for item in saver.alist(None)]
            await saver.adelete_thread("hot")  # not a hot call: SQLAlchemy's
    assert found is not None and found.pending_writes == [("task", "a", 2)]
    assert [item.config for item in listed] == [stored]
    assert [statement.split()[0] for statement in through_sqlalchemy] == ["DELETE"] * 3
    assert first_words(through_fast).count("BEGIN IMMEDIATE") == 2
    assert first_words(through_fast).count("BEGIN") == 2  # the two reads


def test_the_sync_api_takes_the_fast_path_too(tmp_path: Path) -> None:
    with sqlite_store(tmp_path).open() as saver:
        saver.get_tuple(generate_config("sync"))  # sets the store up
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
    assert first_words(through_fast).count("COMMIT") == 4


async def test_concurrent_writes_commit_together(tmp_path: Path) -> None:
    async with sqlite_store(tmp_path).open() as saver:
        await saver.setup()
        with statements(saver) as (_, trace):
            await asyncio.gather(*(put(saver, f"t{index}", {"i": index}) for index in range(8)))
        for index in range(8):
            found = await saver.aget_tuple(generate_config(f"t{index}"))
            assert found is not None and found.checkpoint["channel_values"] == {"i": index}
    commits = first_words(trace).count("COMMIT")
    assert 1 <= commits < 8  # queued while the first commit ran: committed together


async def test_a_failing_write_in_a_group_fails_alone(tmp_path: Path) -> None:
    store = sqlite_store(tmp_path)
    async with store.open() as saver:
        await saver.setup()
        with sqlite3.connect(store.path or "") as conn:
            conn.execute(
                "CREATE TRIGGER refuse BEFORE INSERT ON ponder_checkpoints "
                "WHEN NEW.thread_id = 'bad' BEGIN SELECT RAISE(ABORT, 'refused by test'); END"
            )
        threads = ["t0", "t1", "t2", "bad", "t4", "t5"]
        with statements(saver) as (_, trace):
            results = await asyncio.gather(
                *(put(saver, thread, {"v": thread}) for thread in threads),
                return_exceptions=True,
            )
        assert "SAVEPOINT ponder_write" in trace
        for thread, result in zip(threads, results, strict=True):
            if thread == "bad":
                assert isinstance(result, CheckpointError) and "refused by test" in str(result)
            else:
                assert isinstance(result, dict) and result["thread_id"] == thread
        # The failing put's values went in before its checkpoint failed: undone with it.
        assert store.query("SELECT DISTINCT thread_id FROM ponder_checkpoint_blobs ORDER BY 1") == [
            (thread,) for thread in sorted(threads) if thread != "bad"
        ]
        assert await saver.aget_tuple(generate_config("bad")) is None


async def test_values_are_encoded_when_aput_is_called(tmp_path: Path) -> None:
    # LangGraph may change a value once aput has been called (async durability): what is
    # stored is the value at the call.
    async with sqlite_store(tmp_path).open() as saver:
        await saver.setup()
        value = ["at the call"]
        pending = asyncio.ensure_future(put(saver, "mutated", {"a": value}))
        await asyncio.sleep(0)  # aput runs up to its wait for the worker
        value.append("changed later")
        await pending
        found = await saver.aget_tuple(generate_config("mutated"))
    assert found is not None and found.checkpoint["channel_values"] == {"a": ["at the call"]}


async def test_driver_options_in_the_url_keep_to_sqlalchemy(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/options.db?timeout=20"
    async with SqlCheckpointer.from_url(url) as saver:
        assert saver._fast is None  # noqa: SLF001 - test peek
        assert await put(saver, "t", {"a": 1}) is not None
        found = await saver.aget_tuple(generate_config("t"))
        assert found is not None and found.checkpoint["channel_values"] == {"a": 1}


def worker_threads() -> list[str]:
    return [thread.name for thread in threading.enumerate() if thread.name.startswith("ponder-sq")]


async def test_closing_ends_the_worker_and_refuses_calls(tmp_path: Path) -> None:
    before = worker_threads()
    saver = sqlite_store(tmp_path).open()
    await put(saver, "t", {"a": 1})
    assert len(worker_threads()) == len(before) + 1
    await saver.aclose()
    assert worker_threads() == before
    with pytest.raises(CheckpointError, match="closed"):
        await put(saver, "t", {"a": 2})
