"""LangGraph's saver conventions: `SqlCheckpointer.from_conn_string` and `setup` both ways."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from langgraph.checkpoint.conformance.test_utils import (
    generate_checkpoint,
    generate_config,
    generate_metadata,
)

from ponder.errors import ConfigurationError
from ponder.persistence import SqlCheckpointer
from ponder.persistence.url import conn_string_url
from tests.persistence.conftest import PG_URL, StoreSpec, pg_fetch


def ready(saver: SqlCheckpointer) -> bool:
    """Whether the saver's store has been set up."""
    return saver._store.ready  # noqa: SLF001 - test peek


async def roundtrip(saver: SqlCheckpointer, thread_id: str) -> None:
    stored = await saver.aput(
        generate_config(thread_id),
        generate_checkpoint(channel_values={"a": 1}, channel_versions={"a": 1}),
        generate_metadata(),
        {"a": 1},
    )
    found = await saver.aget_tuple(stored)
    assert found is not None and found.checkpoint["channel_values"] == {"a": 1}


async def test_a_plain_file_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    async with SqlCheckpointer.from_conn_string("relative.db") as saver:
        await saver.setup()
        await roundtrip(saver, "relative")
    absolute = tmp_path / "sub dir" / "odd?name#1.db"
    absolute.parent.mkdir()
    async with SqlCheckpointer.from_conn_string(absolute) as saver:
        await roundtrip(saver, "absolute")
    assert (tmp_path / "relative.db").is_file() and absolute.is_file()


async def test_memory_is_a_throwaway_store_removed_on_close() -> None:
    async with SqlCheckpointer.from_conn_string(":memory:") as saver:
        await roundtrip(saver, "memory")
        scratch = saver._scratch  # noqa: SLF001 - test peek
        assert scratch is not None and os.path.isdir(scratch.name)
    assert not os.path.exists(scratch.name)
    async with SqlCheckpointer.from_conn_string(":memory:") as other:  # a fresh, empty store
        assert await other.aget_tuple(generate_config("memory")) is None


def test_memory_in_sync_code_with_sync_setup() -> None:
    with SqlCheckpointer.from_conn_string(":memory:") as saver:
        saver.setup()  # sync: done before it returns
        assert ready(saver)
        assert saver.get_tuple(generate_config("sync")) is None


async def test_a_postgresql_url_and_its_schema(pg_store: StoreSpec) -> None:
    async with SqlCheckpointer.from_conn_string(f"{PG_URL}?schema={pg_store.schema}") as saver:
        await saver.setup()  # LangGraph's async convention
        await roundtrip(saver, "pg")
    rows = pg_fetch("SELECT thread_id FROM ponder_checkpoints", schema=pg_store.schema)
    assert rows == [("pg",)]


def test_sync_setup_on_postgresql(pg_store: StoreSpec) -> None:
    saver = SqlCheckpointer.from_conn_string(PG_URL, schema=pg_store.schema)
    try:
        saver.setup()
        tables = pg_fetch("SELECT count(*) FROM pg_tables WHERE schemaname = $1", pg_store.schema)
        assert tables[0][0] >= 3
    finally:
        saver.close()


async def test_setup_in_async_code_returns_the_work_to_await(tmp_path: Path) -> None:
    async with SqlCheckpointer.from_conn_string(tmp_path / "a.db") as saver:
        pending = saver.setup()
        assert not ready(saver)  # nothing done until awaited
        await pending
        assert ready(saver)
        await saver.asetup()  # idempotent


async def test_sync_setup_works_beside_a_running_loop(tmp_path: Path) -> None:
    saver = SqlCheckpointer.from_conn_string(tmp_path / "b.db")
    try:
        await asyncio.to_thread(saver.setup)  # sync code in a thread of its own
        assert ready(saver)
    finally:
        await saver.aclose()


@pytest.mark.parametrize(
    ("conn_string", "message"),
    [
        ("", "empty connection string"),
        ("host=127.0.0.1 dbname=test", "libpq key=value"),
        ("mysql://user@host/db", "SQLite and PostgreSQL"),
    ],
)
def test_unusable_strings_are_refused_clearly(conn_string: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        SqlCheckpointer.from_conn_string(conn_string)


def test_conn_string_url_keeps_urls_and_reads_paths() -> None:
    assert conn_string_url("postgresql://u@h/db") == "postgresql://u@h/db"
    url = conn_string_url("runs/x?.db")
    assert not isinstance(url, str) and url.database == "runs/x?.db"
