"""The store's schema: creation, versioning, and refusing stores that are not ponder's.

A refused store must be left exactly as it was: its bytes (SQLite) or its tables and rows
(PostgreSQL) are compared before and after.
"""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from langgraph.checkpoint.conformance.test_utils import (
    generate_checkpoint,
    generate_config,
    generate_metadata,
)

from ponder.budget import Budget
from ponder.errors import CheckpointError
from ponder.persistence import SCHEMA_VERSION, RunRecord, RunSettings, SqlCheckpointer
from ponder.persistence.schema import TABLE_NAMES
from tests.persistence.conftest import PG_URL, StoreFactory, StoreSpec, pg_fetch, run_in_thread


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def try_everything(saver: SqlCheckpointer, message: str) -> None:
    """Every entry point refuses the store, with ``message``."""
    config = generate_config("t")
    attempts: list[Callable[[], Awaitable[object]]] = [
        saver.setup,
        lambda: saver.aget_tuple(config),
        lambda: saver.aput(config, generate_checkpoint(), generate_metadata(), {}),
        lambda: saver.adelete_thread("t"),
        lambda: saver.aprune(["t"]),
    ]
    for attempt in attempts:
        with pytest.raises(CheckpointError, match=message):
            await attempt()
    with pytest.raises(CheckpointError, match=message):
        _ = [item async for item in saver.alist(None)]


async def test_a_version_1_store_is_migrated_in_place(store: StoreSpec) -> None:
    if store.path is None:
        pytest.skip("the SQLite file shows the migration; PostgreSQL runs the same DDL")
    import sqlite3

    from ponder.persistence.schema import runs

    async with store.open() as saver:
        await saver.setup()
    with sqlite3.connect(store.path) as conn:  # roll the file back to schema version 1
        conn.execute(f"DROP TABLE {runs.name}")
        conn.execute(V4_LEASES)
        conn.execute("DELETE FROM ponder_schema_version WHERE version > 1")
    async with store.open() as saver:
        assert await saver.alist_runs() == []
    versions = store.query("SELECT version FROM ponder_schema_version ORDER BY version")
    assert versions == [(v,) for v in range(1, SCHEMA_VERSION + 1)]


V2_LISTING_INDEXES = {
    "ponder_checkpoints_thread_id_checkpoint_id": "(thread_id, checkpoint_id)",
    "ponder_checkpoints_checkpoint_id": "(checkpoint_id)",
}


def v2_blobs(store: StoreSpec) -> list[str]:
    """Statements giving ponder_checkpoint_blobs its version 2 shape, keeping its rows."""
    key, data = ("TEXT", "BLOB") if store.path is not None else ('TEXT COLLATE "C"', "BYTEA")
    return [
        "ALTER TABLE ponder_checkpoint_blobs RENAME TO v3_blobs",
        f"CREATE TABLE ponder_checkpoint_blobs (thread_id {key} NOT NULL, checkpoint_ns {key} "
        f"NOT NULL, channel {key} NOT NULL, version {key} NOT NULL, type TEXT NOT NULL, "
        f"blob {data} NOT NULL, PRIMARY KEY (thread_id, checkpoint_ns, channel, version))",
        "INSERT INTO ponder_checkpoint_blobs SELECT thread_id, checkpoint_ns, channel, version, "
        "type, blob FROM v3_blobs",
        "DROP TABLE v3_blobs",
    ]


def blob_key(store: StoreSpec) -> list[str]:
    """The primary key columns of ponder_checkpoint_blobs, in order."""
    if store.path is not None:
        rows = store.query("SELECT name, pk FROM pragma_table_info('ponder_checkpoint_blobs')")
        return [name for name, position in sorted(rows, key=lambda row: row[1]) if position]
    rows = store.query(
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
        "AND a.attnum = ANY(i.indkey) WHERE i.indisprimary AND i.indrelid = $1::regclass "
        "ORDER BY array_position(i.indkey, a.attnum)",
        f'"{store.schema}".ponder_checkpoint_blobs',
    )
    return [name for (name,) in rows]


def checkpoint_indexes(store: StoreSpec) -> set[str]:
    if store.path is not None:
        query = "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = $1"
        return {name for (name,) in store.query(query, "ponder_checkpoints")}
    query = "SELECT indexname FROM pg_indexes WHERE schemaname = $1 AND tablename = $2"
    return {name for (name,) in store.query(query, store.schema, "ponder_checkpoints")}


async def test_a_version_2_store_is_upgraded_and_keeps_its_data(store: StoreSpec) -> None:
    config = generate_config("kept")
    checkpoint = generate_checkpoint(channel_values={"a": [1, "x"]}, channel_versions={"a": 1})
    async with store.open() as saver:
        stored = await saver.aput(config, checkpoint, generate_metadata(run_id="r"), {"a": 1})
        await saver.aput_writes(stored, [("a", "pending")], "task")
    # Roll the store back to schema version 2: its two listing indexes, its values keyed by
    # (channel, version), runs without settings, no version 3 or 4.
    for name, columns in V2_LISTING_INDEXES.items():
        store.query(f"CREATE INDEX {name} ON ponder_checkpoints {columns}")
    for statement in v2_blobs(store):
        store.query(statement)
    store.query(V3_RUNS)
    store.query(V4_LEASES)
    store.query("DELETE FROM ponder_schema_version WHERE version > 2")
    assert set(V2_LISTING_INDEXES) <= checkpoint_indexes(store)
    assert blob_key(store) == ["thread_id", "checkpoint_ns", "channel", "version"]
    async with store.open() as saver:
        found = await saver.aget_tuple(stored)
        listed = [item.config async for item in saver.alist(None, filter={"run_id": "r"})]
    assert found is not None and found.checkpoint["channel_values"] == {"a": [1, "x"]}
    assert found.pending_writes == [("task", "a", "pending")]
    assert listed == [stored]
    versions = store.query("SELECT version FROM ponder_schema_version ORDER BY version")
    assert versions == [(v,) for v in range(1, SCHEMA_VERSION + 1)] == [(v,) for v in range(1, 6)]
    assert not set(V2_LISTING_INDEXES) & checkpoint_indexes(store)
    assert "ponder_checkpoints_run_id" in checkpoint_indexes(store)
    assert blob_key(store) == ["thread_id", "checkpoint_ns", "version", "channel"]
    assert store.query("SELECT count(*) FROM ponder_checkpoint_blobs") == [(1,)]


V3_RUNS = "ALTER TABLE ponder_runs DROP COLUMN settings"
"""Gives ponder_runs its version 3 shape (no settings), keeping its rows."""
V4_LEASES = "DROP TABLE ponder_run_leases"
"""Takes the version 5 table away: a store of version 4 or older has no leases."""


def run_record(run_id: str, settings: RunSettings | None) -> RunRecord:
    return RunRecord(
        run_id=run_id, strategy="beam-search", problem="3 + 4 =", options={"beam_width": 3},
        model="gemma3", verifier={"expected": "7", "kind": "number"}, settings=settings,
        budget=Budget(tokens=500).to_limits(), seed=3, status="paused", stop_reason="budget",
        answer="7", tokens=120, calls=4, seconds=1.5, parent_run_id=None, created_at=1.0,
        updated_at=2.0,
    )  # fmt: skip


async def test_a_version_3_store_is_upgraded_and_its_runs_read_without_settings(
    store: StoreSpec,
) -> None:
    settings = RunSettings(
        call_timeout=None, verifier_timeout=5.0, extractor={"name": "extract_code"},
        step_scorer={"custom": "Reward"},
    )  # fmt: skip
    async with store.open() as saver:
        await saver.aput_run(run_record("kept", settings))
    # Roll the store back to schema version 3: no settings column, no version 4.
    store.query(V3_RUNS)
    store.query(V4_LEASES)
    store.query("DELETE FROM ponder_schema_version WHERE version > 3")
    async with store.open() as saver:
        assert await saver.aget_run("kept") == run_record("kept", None)  # NULL: the defaults
        await saver.aput_run(run_record("new", settings))
        assert await saver.aget_run("new") == run_record("new", settings)
        assert [r["run_id"] for r in await saver.alist_runs()] == ["kept", "new"]
    versions = store.query("SELECT version FROM ponder_schema_version ORDER BY version")
    assert versions == [(v,) for v in range(1, SCHEMA_VERSION + 1)] == [(v,) for v in range(1, 6)]


async def test_setup_is_idempotent_and_concurrent(store: StoreSpec) -> None:
    async with store.open() as saver:
        await asyncio.gather(*(saver.setup() for _ in range(8)))
        await saver.setup()
    async with store.open() as again:
        await again.setup()
    versions = store.query("SELECT version FROM ponder_schema_version ORDER BY version")
    assert versions == [(v,) for v in range(1, SCHEMA_VERSION + 1)]
    if store.path is not None:
        names = {
            name for (name,) in store.query("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
    else:
        names = {
            name
            for (name,) in store.query(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = $1",
                store.schema,
            )
        }
    assert names == TABLE_NAMES


async def test_sqlite_settings(tmp_path: Path) -> None:
    store = StoreSpec(
        "sqlite", f"sqlite+aiosqlite:///{tmp_path}/settings.db", path=tmp_path / "settings.db"
    )
    async with store.open() as saver:
        await saver.setup()

        async def pragmas() -> tuple[object, object]:
            async with saver._store._engine.connect() as conn:  # noqa: SLF001 - test peek
                timeout = (await conn.exec_driver_sql("PRAGMA busy_timeout")).scalar()
                mode = (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar()
                return timeout, mode

        assert await saver._runner.run(pragmas()) == (30000, "wal")  # noqa: SLF001
    assert store.query("PRAGMA journal_mode") == [("wal",)]


# -- SQLite files that are not ponder's ----------------------------------------------------------


def make_foreign(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
        conn.execute("INSERT INTO users (name) VALUES ('ada')")
    conn.close()


def make_newer(path: Path) -> None:
    make_ponder(path)
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO ponder_schema_version (version) VALUES (99)")
    conn.close()


def make_ponder(path: Path) -> None:
    async def fill() -> None:
        async with SqlCheckpointer.from_url(f"sqlite+aiosqlite:///{path}") as saver:
            parent = None
            for step in range(40):
                config = generate_config("t")
                if parent is not None:
                    config["configurable"]["checkpoint_id"] = parent["configurable"][
                        "checkpoint_id"
                    ]
                checkpoint = generate_checkpoint(
                    channel_values={"text": "z" * 3000, "step": step},
                    channel_versions={"text": step + 1, "step": step + 1},
                )
                parent = await saver.aput(
                    config,
                    checkpoint,
                    generate_metadata(step=step),
                    {"text": step + 1, "step": step + 1},
                )

    run_in_thread(fill())
    assert not Path(f"{path}-wal").exists() or Path(f"{path}-wal").stat().st_size == 0


def make_text_file(path: Path) -> None:
    path.write_text("these are not the tables you are looking for\n" * 100)


def make_garbled(path: Path) -> None:
    make_ponder(path)
    data = bytearray(path.read_bytes())
    page = 4096
    noise = hashlib.sha512(b"noise").digest() * (page // 64)
    for offset in range(page, len(data), 3 * page):  # every third page after the header's
        data[offset : offset + page] = noise
    path.write_bytes(bytes(data))


def make_truncated(path: Path) -> None:
    make_ponder(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def make_headless(path: Path) -> None:
    make_ponder(path)
    data = bytearray(path.read_bytes())
    data[:100] = b"\x00" * 100
    path.write_bytes(bytes(data))


def make_empty_version_table(path: Path) -> None:
    make_ponder(path)
    with sqlite3.connect(path) as conn:
        conn.execute("DELETE FROM ponder_schema_version")
    conn.close()


def make_missing_table(path: Path) -> None:
    make_ponder(path)
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TABLE ponder_checkpoint_writes")
    conn.close()


REFUSED_SQLITE_STORES = [
    (make_foreign, "not a ponder checkpoint store.*users"),
    (make_newer, "newer ponder.*schema version 99"),
    (make_text_file, "damaged|not a database"),
    (make_garbled, "damaged|malformed|not a database"),
    (make_truncated, "damaged|malformed|not a database"),
    (make_headless, "damaged|malformed|not a database"),
    (make_empty_version_table, r"damaged \(ponder_schema_version holds \[\]\)"),
    (make_missing_table, "damaged.*ponder_checkpoint_writes is missing"),
]


@pytest.mark.parametrize(
    ("make", "message"),
    REFUSED_SQLITE_STORES,
    ids=[make.__name__.removeprefix("make_") for make, _ in REFUSED_SQLITE_STORES],
)
async def test_sqlite_stores_that_are_not_ponders_are_refused_untouched(
    tmp_path: Path, make: Callable[[Path], None], message: str
) -> None:
    path = tmp_path / "store.db"
    make(path)
    before = digest(path)
    async with SqlCheckpointer.from_url(f"sqlite+aiosqlite:///{path}") as saver:
        await try_everything(saver, message)
    assert digest(path) == before
    for suffix in ("-wal", "-journal"):
        side = Path(f"{path}{suffix}")
        assert not side.exists() or side.stat().st_size == 0


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE ponder_checkpoint_blobs SET blob = $1",
        "UPDATE ponder_checkpoint_writes SET blob = $1",
        "UPDATE ponder_checkpoints SET checkpoint = $1",
        "UPDATE ponder_checkpoints SET metadata = $1",
    ],
)
async def test_garbled_rows_raise_checkpoint_error(store: StoreSpec, statement: str) -> None:
    async with store.open() as saver:
        config = generate_config("t")
        checkpoint = generate_checkpoint(channel_values={"a": [1]}, channel_versions={"a": 1})
        stored = await saver.aput(config, checkpoint, generate_metadata(), {"a": 1})
        await saver.aput_writes(stored, [("a", 2)], "task")
        store.query(statement, b"\xc1\xc1 not msgpack")
        with pytest.raises(CheckpointError, match="could not be decoded"):
            await saver.aget_tuple(stored)
        with pytest.raises(CheckpointError, match="could not be decoded"):
            _ = [item async for item in saver.alist(None)]


async def test_unreachable_stores_raise_checkpoint_error(tmp_path: Path) -> None:
    async with SqlCheckpointer.from_url(f"sqlite+aiosqlite:///{tmp_path}/no/such/dir.db") as saver:
        with pytest.raises(CheckpointError, match="could not be opened"):
            await saver.setup()
    async with SqlCheckpointer.from_url("postgresql+asyncpg://postgres@127.0.0.1:1/test") as saver:
        with pytest.raises(CheckpointError, match="could not be opened"):
            await saver.aget_tuple(generate_config("t"))


# -- PostgreSQL schemas that are not ponder's ----------------------------------------------------


def pg_snapshot(schema: str) -> list[tuple[object, ...]]:
    """The schema's tables, and the versions in ponder's version table if there is one."""
    tables = [
        row[0]
        for row in pg_fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1",
            schema,
        )
    ]
    snapshot: list[tuple[object, ...]] = [("table", name) for name in tables]
    if "ponder_schema_version" in tables:
        versions = pg_fetch("SELECT version FROM ponder_schema_version ORDER BY 1", schema=schema)
        snapshot += [("version", row[0]) for row in versions]
    return snapshot


@pytest.mark.parametrize("kind", ["foreign", "newer"])
async def test_postgres_schemas_that_are_not_ponders_are_refused_untouched(
    kind: str, pg_store: StoreSpec
) -> None:
    schema = pg_store.schema
    assert schema is not None
    if kind == "foreign":
        pg_fetch(f'CREATE SCHEMA "{schema}"')  # a name the fixture generated
        pg_fetch("CREATE TABLE users (id integer PRIMARY KEY)", schema=schema)
        message = "not a ponder checkpoint store.*users"
    else:
        async with pg_store.open() as saver:
            await saver.setup()
        pg_fetch("INSERT INTO ponder_schema_version (version) VALUES (99)", schema=schema)
        message = "newer ponder"
    before = pg_snapshot(schema)
    async with SqlCheckpointer.from_url(PG_URL, schema=schema) as saver:
        await try_everything(saver, message)
    assert pg_snapshot(schema) == before


async def test_postgres_schemas_are_created_and_isolated(stores: StoreFactory) -> None:
    first, second = stores.make("postgres"), stores.make("postgres")
    async with first.open() as one, second.open() as two:
        config = generate_config("same-thread")
        await one.aput(config, generate_checkpoint(), generate_metadata(), {})
        assert await two.aget_tuple(config) is None
        assert await one.aget_tuple(config) is not None
