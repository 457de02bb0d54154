"""Checkpointer benchmark: ponder's SqlCheckpointer against LangGraph's official savers.

On SQLite, against ``AsyncSqliteSaver``: both savers run in the same process, on the same
machine, on SQLite files in one temporary directory, with each library's defaults (WAL
journal, SQLite's default ``synchronous``, FULL: every commit is fsynced; the settings each
saver's connection really has are read back and reported). On PostgreSQL, against
``AsyncPostgresSaver`` (langgraph-checkpoint-postgres, psycopg), each in a fresh schema of the
same server. Measured for each:

1. ``aput`` throughput: sequential puts in one thread, each a new checkpoint carrying about
   2 KB of channel values in 4 channels, every channel getting a new version and a new value
   (so both savers really write all of it); also CPU time per put (all threads);
2. ``aget_tuple`` latency (median, p95) of the latest checkpoint of that thread;
3. ``alist`` of the whole thread;
4. 8 concurrent writers: 8 asyncio tasks, each its own thread id, on one saver;
5. storage: bytes on disk per checkpoint after 10,000 checkpoints, measured after the saver is
   closed (database file, plus ``-wal`` / ``-shm`` if any are left), with all 4 channels
   changing per checkpoint and with only 1 of 4 changing (the common case in a graph);
6. per-step overhead of a real strategy graph: ponder's self-consistency graph with a scripted
   model, compiled with each saver and with none, in LangGraph's ``async`` (default) and
   ``sync`` durability modes; the added milliseconds per checkpoint written (one per
   super-step, plus the input checkpoint).

Then the same on PostgreSQL (a fresh schema per measurement and saver, all dropped at the end;
storage there is ``pg_total_relation_size`` of each saver's tables: heap, indexes and TOAST).
PostgreSQL also gets item 1 once more with ``synchronous_commit=off`` on both savers' connections
(an opt-in that trades the last moments of acknowledged commits on a server crash for speed; not
either saver's default, and reported on its own row); ``synchronous_commit`` is read back from
each saver's connection for both runs.

The savers compared are open together and take turns: 50 puts of one, 50 of the other, and
so on (500 while filling the stores whose size is measured; one lookup, one listing, one graph
run each), so that load from other processes, which comes and goes on a shared machine, falls
on both alike; the ratio of the two is the figure to read. Throughput items are repeated
(median, range shown), the saver going first rotating. The load average at start and end is
recorded.

Run:  .venv/bin/python benchmarks/checkpointer.py [--quick] [--no-postgres] [--repeats N]
      [--dir DIR]
Writes benchmarks/results/checkpointer.json and checkpointer.md, and prints the table.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import platform
import random
import re
import sqlite3
import statistics
import string
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from importlib import metadata as package_metadata
from pathlib import Path
from typing import Any

import asyncpg
from _common import RESULTS, write_report
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver, create_checkpoint, empty_checkpoint
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from sqlalchemy.engine import make_url

import ponder
from ponder.context import RunContext
from ponder.persistence import SqlCheckpointer
from ponder.persistence._pg_fast import PgFastPath
from ponder.testing import ScriptedChatModel

PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
CHANNELS = ("question", "samples", "votes", "ledger")
POOL = 64  # distinct values per channel, cycled so consecutive checkpoints differ
_SCHEMA = re.compile(r"^ponder_bench_[0-9a-f]{12}_[a-z0-9_]+$")
RELAXED = {"connect_args": {"server_settings": {"synchronous_commit": "off"}}}
"""ponder's opt-in for commits that do not wait for the WAL flush (`SqlCheckpointer.from_url`)."""


@dataclass(frozen=True)
class Counts:
    """How much of each measurement to do."""

    puts: int = 1000
    repeats: int = 5
    lookups: int = 200
    listings: int = 3
    writers: int = 8
    writer_puts: int = 200
    size_puts: int = 10_000
    size_lookups: int = 20
    graph_runs: int = 30
    graph_warmup: int = 3


QUICK = Counts(
    puts=200,
    repeats=2,
    lookups=30,
    listings=2,
    writers=8,
    writer_puts=25,
    size_puts=500,
    size_lookups=5,
    graph_runs=5,
    graph_warmup=1,
)


# -- checkpoints ------------------------------------------------------------------------------


def value_pool(seed: int = 0) -> dict[str, list[Any]]:
    """Plain-data channel values, about 2 KB per checkpoint in all, POOL of each channel."""
    rng = random.Random(seed)
    vocabulary = [
        "".join(rng.choices(string.ascii_lowercase, k=rng.randint(2, 9))) for _ in range(500)
    ]

    def text(chars: int) -> str:
        words: list[str] = []
        while sum(len(w) + 1 for w in words) < chars:
            words.append(rng.choice(vocabulary))
        return " ".join(words)

    return {
        "question": [text(800) for _ in range(POOL)],
        "samples": [[text(250) for _ in range(3)] for _ in range(POOL)],
        "votes": [
            {str(rng.randint(0, 9999)): rng.randint(1, 9) for _ in range(30)} for _ in range(POOL)
        ],
        "ledger": [
            [
                {
                    "id": uuid.UUID(int=rng.getrandbits(128)).hex,
                    "tokens": rng.randint(10, 900),
                    "seconds": round(rng.random(), 6),
                    "kind": "sample",
                }
                for _ in range(4)
            ]
            for _ in range(POOL)
        ],
    }


def payload_bytes(pool: dict[str, list[Any]]) -> dict[str, float]:
    """Mean msgpack size of each channel's values (what either saver serializes)."""
    serde = JsonPlusSerializer()
    return {
        channel: statistics.mean(len(serde.dumps_typed(value)[1]) for value in values)
        for channel, values in pool.items()
    }


class Writer:
    """Puts successive checkpoints in one thread, as a graph loop would."""

    def __init__(
        self,
        saver: BaseCheckpointSaver[Any],
        thread_id: str,
        pool: dict[str, list[Any]],
        changing: Sequence[str] = CHANNELS,
        offset: int = 0,
    ) -> None:
        self.saver = saver
        self.thread_id = thread_id
        self.pool = pool
        self.changing = tuple(changing)
        self.offset = offset
        self.config: RunnableConfig = {
            "configurable": {"thread_id": thread_id, "checkpoint_ns": ""}
        }
        self.values: dict[str, Any] = {}
        self.versions: dict[str, Any] = {}
        self.step = 0

    async def put(self) -> None:
        changed = CHANNELS if self.step == 0 else self.changing
        new_versions = {}
        for index, channel in enumerate(changed):
            version = self.saver.get_next_version(self.versions.get(channel), None)
            self.versions[channel] = new_versions[channel] = version
            self.values[channel] = self.pool[channel][(self.step + self.offset + index) % POOL]
        base = empty_checkpoint()
        base["channel_values"] = dict(self.values)
        base["channel_versions"] = dict(self.versions)
        base["versions_seen"] = {"node": dict(self.versions)}
        checkpoint = create_checkpoint(base, None, self.step)
        metadata: Any = {"source": "loop", "step": self.step, "parents": {}}
        self.config = await self.saver.aput(self.config, checkpoint, metadata, new_versions)
        self.step += 1

    async def run(self, count: int) -> None:
        for _ in range(count):
            await self.put()

    def latest(self) -> RunnableConfig:
        return {"configurable": {"thread_id": self.thread_id, "checkpoint_ns": ""}}

    async def check(self) -> None:
        """Fail unless the latest stored checkpoint reads back as the last one put."""
        found = await self.saver.aget_tuple(self.latest())
        if found is None or found.metadata.get("step") != self.step - 1:
            raise SystemExit(f"{self.thread_id}: the latest checkpoint is not the last put")
        if found.checkpoint["channel_values"] != self.values:
            raise SystemExit(f"{self.thread_id}: channel values did not round-trip")


# -- where the savers store ---------------------------------------------------------------------


class PgAdmin:
    """Fresh schemas for ponder on PostgreSQL, their sizes, and dropping them all."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.dsn = make_url(url).set(drivername="postgresql").render_as_string(False)
        self.prefix = f"ponder_bench_{uuid.uuid4().hex[:12]}"
        self.schemas: list[str] = []

    def schema(self, tag: str) -> str:
        name = f"{self.prefix}_{tag}"
        if not _SCHEMA.match(name):
            raise SystemExit(f"bad schema name {name!r}")
        self.schemas.append(name)
        return name

    async def server_version(self) -> str:
        conn = await asyncpg.connect(self.dsn, timeout=5)
        try:
            return str(await conn.fetchval("SHOW server_version"))
        finally:
            await conn.close()

    async def create(self, schema: str) -> None:
        if not _SCHEMA.match(schema):
            raise SystemExit(f"bad schema name {schema!r}")
        conn = await asyncpg.connect(self.dsn)
        try:
            await conn.execute(f'CREATE SCHEMA "{schema}"')  # a name made here, safe to quote
        finally:
            await conn.close()

    def official_dsn(self, schema: str) -> str:
        """psycopg's connection string for the official saver, its tables in ``schema``."""
        return f"{self.dsn}?options=-csearch_path%3D{schema}"

    async def size(self, schema: str) -> dict[str, int]:
        conn = await asyncpg.connect(self.dsn)
        try:
            rows = await conn.fetch(
                "SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = $1 AND c.relkind = 'r'",
                schema,
            )
        finally:
            await conn.close()
        return {str(name): int(size) for name, size in rows}

    async def drop_all(self) -> None:
        if not self.schemas:
            return
        conn = await asyncpg.connect(self.dsn)
        try:
            for schema in self.schemas:
                if _SCHEMA.match(schema):  # only names made here, safe to quote
                    await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await conn.close()


@dataclass
class Target:
    """One saver on one backend."""

    key: str
    label: str
    folder: Path
    pg: PgAdmin | None = None
    schemas: dict[str, str] = field(default_factory=dict)
    relaxed: bool = False
    """PostgreSQL: the saver's connections set ``synchronous_commit=off`` (an opt-in)."""

    def path(self, tag: str) -> Path:
        return self.folder / f"{self.key}-{tag}.db"

    @asynccontextmanager
    async def open(self, tag: str) -> AsyncIterator[BaseCheckpointSaver[Any]]:
        """A fresh, set-up store for ``tag``; closed on exit."""
        if self.key == "official_sqlite":
            async with AsyncSqliteSaver.from_conn_string(str(self.path(tag))) as official:
                await official.setup()
                yield official
            return
        if self.key == "official_postgres":
            assert self.pg is not None
            self.schemas[tag] = self.pg.schema(f"official_{tag}")
            await self.pg.create(self.schemas[tag])
            dsn = self.pg.official_dsn(self.schemas[tag])
            if self.relaxed:
                dsn += "%20-csynchronous_commit%3Doff"
            async with AsyncPostgresSaver.from_conn_string(dsn) as official_pg:
                await official_pg.setup()
                yield official_pg
            return
        if self.pg is not None:
            self.schemas[tag] = self.pg.schema(tag)
            saver = SqlCheckpointer.from_url(
                self.pg.url,
                schema=self.schemas[tag],
                engine_options=RELAXED if self.relaxed else None,
            )
        else:
            saver = SqlCheckpointer.from_url(f"sqlite+aiosqlite:///{self.path(tag)}")
        async with saver:
            await saver.setup()
            yield saver

    async def size(self, tag: str) -> dict[str, Any]:
        """What the store of ``tag`` takes, once its saver is closed."""
        if self.pg is not None:
            tables = await self.pg.size(self.schemas[tag])
            return {"total": sum(tables.values()), "tables": tables}
        files = {
            suffix or "db": path.stat().st_size
            for suffix in ("", "-wal", "-shm")
            if (path := Path(f"{self.path(tag)}{suffix}")).exists()
        }
        with sqlite3.connect(self.path(tag)) as conn:
            try:
                rows = conn.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name").fetchall()
            except sqlite3.OperationalError:  # SQLite built without dbstat
                rows = []
        conn.close()
        total = files.get("db", 0) + files.get("-wal", 0)
        return {"total": total, "files": files, "tables": dict(rows)}


# -- the measurements ---------------------------------------------------------------------------


def ms(seconds: float) -> float:
    return seconds * 1000.0


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def sqlite_settings(saver: BaseCheckpointSaver[Any]) -> dict[str, Any]:
    """The journal mode and ``synchronous`` level of the connection a SQLite saver writes with."""
    found: dict[str, Any] = {}
    for pragma in ("journal_mode", "synchronous"):
        if isinstance(saver, AsyncSqliteSaver):
            async with saver.conn.execute(f"PRAGMA {pragma}") as cursor:
                row = await cursor.fetchone()
            found[pragma] = None if row is None else row[0]
        elif isinstance(saver, SqlCheckpointer):
            fast = saver._fast  # noqa: SLF001 - the connection ponder's SQLite puts use
            if fast is not None:
                found[pragma] = (await fast.run(fast.execute, f"PRAGMA {pragma}"))[0][0]
    return found


async def pg_settings(saver: BaseCheckpointSaver[Any]) -> dict[str, Any]:
    """``synchronous_commit`` as the connection a PostgreSQL saver writes with has it."""
    if isinstance(saver, AsyncPostgresSaver):
        async with saver.conn.cursor() as cursor:
            await cursor.execute("SHOW synchronous_commit")
            row: Any = await cursor.fetchone()
        return {"synchronous_commit": None if row is None else row["synchronous_commit"]}
    if isinstance(saver, SqlCheckpointer) and isinstance(saver._hot, PgFastPath):  # noqa: SLF001
        fast = saver._hot  # noqa: SLF001 - the connections ponder's PostgreSQL puts use

        async def show(raw: Any) -> Any:
            return await raw.fetchval("SHOW synchronous_commit")

        value = await saver._runner.run(fast._call(show, "be read"))  # noqa: SLF001
        return {"synchronous_commit": value}
    return {}


BLOCK = 50
"""Puts one saver makes before the next saver's turn: savers measured together take turns in
blocks, so that load from other processes, which comes and goes, falls on all of them alike."""
FILL_BLOCK = 500
"""The same, while filling the stores whose size is measured."""


async def interleaved(
    actions: dict[str, Callable[[int], Awaitable[Any]]], total: int, block: int
) -> tuple[dict[str, float], dict[str, float]]:
    """Run each action ``total`` times in turns of ``block``; wall and CPU seconds of each."""
    wall = dict.fromkeys(actions, 0.0)
    cpu = dict.fromkeys(actions, 0.0)
    for turn, start in enumerate(range(0, total, block)):
        size = min(block, total - start)
        for key in rotated(list(actions), turn):
            started, used = time.perf_counter(), time.process_time()
            await actions[key](size)
            wall[key] += time.perf_counter() - started
            cpu[key] += time.process_time() - used
    return wall, cpu


async def checked_puts(
    writers: dict[str, Writer], total: int, block: int
) -> tuple[dict[str, float], dict[str, float]]:
    """``total`` puts by each writer, taking turns in ``block`` (`interleaved`), then each
    writer's check that its checkpoints read back; wall and CPU seconds of each."""
    wall, cpu = await interleaved({key: w.run for key, w in writers.items()}, total, block)
    for writer in writers.values():
        await writer.check()
    return wall, cpu


async def lookups_of(
    savers: dict[str, BaseCheckpointSaver[Any]], writers: dict[str, Writer], count: int
) -> dict[str, list[float]]:
    """Milliseconds of ``count`` lookups of each writer's latest checkpoint, taking turns."""
    found: dict[str, list[float]] = {key: [] for key in savers}
    for turn in range(count):
        for key in rotated(list(savers), turn):
            started = time.perf_counter()
            await savers[key].aget_tuple(writers[key].latest())
            found[key].append(ms(time.perf_counter() - started))
    return found


async def single_thread(
    targets: Sequence[Target], tag: str, counts: Counts, pool: Any
) -> dict[str, dict[str, Any]]:
    """Items 1-3: puts in one thread, then lookups of the latest, then full listings."""
    async with _open_all(targets, tag) as savers:
        settings = {key: await sqlite_settings(saver) for key, saver in savers.items()}
        server = {key: await pg_settings(saver) for key, saver in savers.items()}
        writers = {key: Writer(saver, "bench", pool) for key, saver in savers.items()}
        wall, cpu = await checked_puts(writers, counts.puts, BLOCK)
        lookups = await lookups_of(savers, writers, counts.lookups)
        listings: dict[str, list[float]] = {key: [] for key in savers}
        for turn in range(counts.listings):
            for key in rotated(list(savers), turn):
                started = time.perf_counter()
                thread: RunnableConfig = {"configurable": {"thread_id": "bench"}}
                found = [item async for item in savers[key].alist(thread)]
                listings[key].append(ms(time.perf_counter() - started))
                if len(found) != counts.puts:
                    raise SystemExit(f"{key}: listed {len(found)} of {counts.puts}")
    return {
        key: {
            "sqlite_settings": settings[key],
            "pg_settings": server[key],
            "puts_per_s": counts.puts / wall[key],
            "cpu_us_per_put": cpu[key] / counts.puts * 1e6,
            "get_ms": lookups[key],
            "list_ms": listings[key],
        }
        for key in savers
    }


async def concurrent(
    targets: Sequence[Target], tag: str, counts: Counts, pool: Any
) -> dict[str, dict[str, Any]]:
    """Item 4: several asyncio tasks putting into their own threads on one saver."""
    async with _open_all(targets, tag) as savers:
        writers = {
            key: [Writer(saver, f"w{i}", pool, offset=i) for i in range(counts.writers)]
            for key, saver in savers.items()
        }

        def together(key: str) -> Callable[[int], Awaitable[Any]]:
            return lambda size: asyncio.gather(*(writer.run(size) for writer in writers[key]))

        turn = max(1, BLOCK // counts.writers)
        wall, _ = await interleaved(
            {key: together(key) for key in savers}, counts.writer_puts, turn
        )
        for group in writers.values():
            for writer in group:
                await writer.check()
    return {key: {"puts_per_s": counts.writers * counts.writer_puts / wall[key]} for key in savers}


async def storage(
    targets: Sequence[Target], tag: str, counts: Counts, pool: Any, changing: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """Item 5: bytes per checkpoint after ``size_puts`` checkpoints, savers closed."""
    async with _open_all(targets, tag) as savers:
        writers = {
            key: Writer(saver, "size", pool, changing=changing) for key, saver in savers.items()
        }
        wall, _ = await checked_puts(writers, counts.size_puts, FILL_BLOCK)
        lookups = await lookups_of(savers, writers, counts.size_lookups)
    found = {}
    for target in targets:
        size = await target.size(tag)
        found[target.key] = {
            **size,
            "bytes_per_checkpoint": size["total"] / counts.size_puts,
            "fill_puts_per_s": counts.size_puts / wall[target.key],
            "get_ms_median": statistics.median(lookups[target.key]),
        }
    return found


def rotated(items: Sequence[Any], by: int) -> list[Any]:
    by %= len(items)
    return [*items[by:], *items[:by]]


async def throughput(targets: Sequence[Target], counts: Counts, pool: Any) -> dict[str, Any]:
    """Items 1-4, repeated, the savers taking turns (`BLOCK`), first in a rotating order."""
    raw: dict[str, dict[str, list[Any]]] = {
        t.key: {"single": [], "concurrent": []} for t in targets
    }
    for repeat in range(counts.repeats):
        order = rotated(targets, repeat)
        progress(f"repeat {repeat + 1}/{counts.repeats}: {', '.join(t.label for t in order)}")
        single = await single_thread(order, f"single_r{repeat}", counts, pool)
        many = await concurrent(order, f"concurrent_r{repeat}", counts, pool)
        for key in raw:
            raw[key]["single"].append(single[key])
            raw[key]["concurrent"].append(many[key])
    return {key: summarize_throughput(runs) for key, runs in raw.items()}


async def floor_puts(admin: PgAdmin, counts: Counts, payload: float) -> dict[str, Any]:
    """The server's floor for a durable put: a bare asyncpg INSERT of one row and its commit.

    One row holding ``payload`` bytes (a checkpoint's values) into a table of a schema made
    here, in autocommit, ``counts.puts`` times per repeat: one round trip and one WAL flush,
    with none of a saver's work. Run after the savers' turns, not between them.
    """
    schema = admin.schema("floor")
    await admin.create(schema)
    conn = await asyncpg.connect(admin.dsn, server_settings={"search_path": schema})
    rates = []
    try:
        await conn.execute("CREATE TABLE floor (id integer PRIMARY KEY, value bytea NOT NULL)")
        value, row = os.urandom(int(payload)), 0  # incompressible, as encoded values are
        for _ in range(counts.repeats):
            started = time.perf_counter()
            for _ in range(counts.puts):
                row += 1
                await conn.execute("INSERT INTO floor VALUES ($1, $2)", row, value)
            rates.append(counts.puts / (time.perf_counter() - started))
    finally:
        await conn.close()
    return {"puts_per_s": spread(rates)}


async def relaxed_puts(targets: Sequence[Target], counts: Counts, pool: Any) -> dict[str, Any]:
    """Item 1 with ``synchronous_commit=off`` on every saver, repeated as `throughput` is."""
    relaxed = [dataclasses.replace(t, relaxed=True, schemas={}) for t in targets]
    rates: dict[str, list[float]] = {t.key: [] for t in relaxed}
    settings: dict[str, dict[str, Any]] = {}
    for repeat in range(counts.repeats):
        order = rotated(relaxed, repeat)
        progress(f"relaxed puts {repeat + 1}/{counts.repeats}: {', '.join(t.label for t in order)}")
        async with _open_all(order, f"relaxed_r{repeat}") as savers:
            settings = {key: await pg_settings(saver) for key, saver in savers.items()}
            writers = {key: Writer(saver, "bench", pool) for key, saver in savers.items()}
            wall, _ = await checked_puts(writers, counts.puts, BLOCK)
        for key in rates:
            rates[key].append(counts.puts / wall[key])
    return {key: {"puts_per_s": spread(rates[key]), "pg_settings": settings[key]} for key in rates}


def summarize_throughput(runs: dict[str, list[Any]]) -> dict[str, Any]:
    single, many = runs["single"], runs["concurrent"]
    lookups = [value for run in single for value in run["get_ms"]]
    listings = [value for run in single for value in run["list_ms"]]
    return {
        "sqlite_settings": single[0]["sqlite_settings"],
        "pg_settings": single[0]["pg_settings"],
        "puts_per_s": spread([run["puts_per_s"] for run in single]),
        "cpu_us_per_put": spread([run["cpu_us_per_put"] for run in single]),
        "get_ms_median": statistics.median(lookups),
        "get_ms_p95": percentile(lookups, 0.95),
        "list_ms": spread(listings),
        "concurrent_puts_per_s": spread([run["puts_per_s"] for run in many]),
    }


def spread(values: Sequence[float]) -> dict[str, Any]:
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "all": list(values),
    }


async def sizes(targets: Sequence[Target], counts: Counts, pool: Any) -> dict[str, Any]:
    """Item 5, with every channel changing, and with only one of four changing."""
    found: dict[str, Any] = {t.key: {} for t in targets}
    for case, changing in (("all_channels", CHANNELS), ("one_channel", CHANNELS[:1])):
        progress(f"storage ({case}): {counts.size_puts} checkpoints each")
        for key, result in (await storage(targets, f"size_{case}", counts, pool, changing)).items():
            found[key][case] = result
    return found


# -- item 6: a real strategy graph ------------------------------------------------------------


GRAPH_INPUT = {"problem": "2+2?"}


async def graph_overhead(targets: Sequence[Target], counts: Counts) -> dict[str, Any]:
    """Self-consistency runs with each saver and with none, interleaved."""
    builder = ponder.build_strategy("self-consistency", max_samples=8, agreement=1.0).builder
    names = ["none", *(t.key for t in targets)]
    result: dict[str, Any] = {}
    async with _open_all(targets, "graph") as opened:
        savers = {"none": None, **opened}
        graphs = {name: builder.compile(checkpointer=savers[name]) for name in names}
        for durability in ("async", "sync"):
            times: dict[str, list[float]] = {name: [] for name in names}
            for index in range(counts.graph_warmup + counts.graph_runs):
                for name in rotated(names, index):
                    # No durability without a saver: LangGraph warns, and "sync" fails there.
                    mode = None if name == "none" else durability
                    seconds = await one_run(graphs[name], f"{durability}-{name}-{index}", mode)
                    if index >= counts.graph_warmup:
                        times[name].append(ms(seconds))
            progress(f"graph runs ({durability} durability) done")
            steps = {
                name: await checkpoints_of(savers[name], f"{durability}-{name}-0")
                for name in names[1:]
            }
            result[durability] = summarize_graph(times, steps)
    return result


@asynccontextmanager
async def _open_all(targets: Sequence[Target], tag: str) -> AsyncIterator[dict[str, Any]]:
    if not targets:
        yield {}
        return
    first, rest = targets[0], targets[1:]
    async with first.open(tag) as saver, _open_all(rest, tag) as others:
        yield {first.key: saver, **others}


async def one_run(graph: Any, thread_id: str, durability: str | None) -> float:
    model = ScriptedChatModel(replies=["The answer is 4."])
    payload = {**GRAPH_INPUT, "budget": ponder.Budget(tokens=100_000).to_limits()}
    config: RunnableConfig = {"configurable": {"thread_id": thread_id}, "recursion_limit": 16}
    started = time.perf_counter()
    output = await graph.ainvoke(
        payload, config, context=RunContext(model=model), durability=durability
    )
    seconds = time.perf_counter() - started
    if output.get("answer") != "4":
        raise SystemExit(f"graph run {thread_id} answered {output.get('answer')!r}")
    return seconds


async def checkpoints_of(saver: BaseCheckpointSaver[Any], thread_id: str) -> int:
    return len([item async for item in saver.alist({"configurable": {"thread_id": thread_id}})])


def summarize_graph(times: dict[str, list[float]], steps: dict[str, int]) -> dict[str, Any]:
    baseline = statistics.median(times["none"])
    summary: dict[str, Any] = {"none": {"run_ms": spread(times["none"])}}
    for name, count in steps.items():
        median = statistics.median(times[name])
        summary[name] = {
            "run_ms": spread(times[name]),
            "checkpoints_per_run": count,
            "added_ms_per_run": median - baseline,
            "added_ms_per_step": (median - baseline) / count,
        }
    return summary


# -- machine, report ---------------------------------------------------------------------------


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def versions() -> dict[str, str]:
    found = {}
    for name in (
        "langgraph",
        "langgraph-checkpoint",
        "langgraph-checkpoint-sqlite",
        "aiosqlite",
        "sqlalchemy",
        "asyncpg",
        "langgraph-checkpoint-postgres",
        "psycopg",
    ):
        try:
            found[name] = package_metadata.version(name)
        except package_metadata.PackageNotFoundError:
            found[name] = "missing"
    return found


def filesystem(folder: Path) -> str:
    """The filesystem type of the mount holding ``folder`` (fsync cost depends on it)."""
    best, kind = "", "unknown"
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return kind
    for line in mounts:
        parts = line.split()
        if (
            len(parts) > 2
            and str(folder.resolve()).startswith(parts[1])
            and len(parts[1]) > len(best)
        ):
            best, kind = parts[1], parts[2]
    return kind


def machine(folder: Path) -> dict[str, Any]:
    with sqlite3.connect(":memory:") as conn:
        synchronous = conn.execute("PRAGMA synchronous").fetchone()[0]
    return {
        "cores": len(os.sched_getaffinity(0)),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "sqlite_default_synchronous": synchronous,
        "temp_filesystem": filesystem(folder),
        "load_average_start": os.getloadavg(),
        "versions": versions(),
    }


async def run(counts: Counts, quick: bool, folder: Path, pg_url: str | None) -> dict[str, Any]:
    pool = value_pool()
    payload = payload_bytes(pool)
    report: dict[str, Any] = {
        "quick": quick,
        "counts": counts.__dict__,
        "machine": machine(folder),
        "payload_bytes": {
            "per_channel": payload,
            "all_channels": sum(payload.values()),
            "one_channel": payload[CHANNELS[0]],
        },
    }
    sqlite_targets = [
        Target("ponder_sqlite", "ponder SqlCheckpointer (SQLite)", folder),
        Target("official_sqlite", "LangGraph AsyncSqliteSaver", folder),
    ]
    pg_targets: list[Target] = []
    admin = PgAdmin(pg_url) if pg_url else None
    if admin is not None:
        try:
            report["machine"]["postgresql"] = await admin.server_version()
            pg_targets = [
                Target("ponder_postgres", "ponder SqlCheckpointer (PostgreSQL)", folder, admin),
                Target("official_postgres", "LangGraph AsyncPostgresSaver", folder, admin),
            ]
        except (OSError, asyncpg.PostgresError) as exc:
            report["postgres_skipped"] = f"{type(exc).__name__}: {exc}"
            progress(f"PostgreSQL skipped: {report['postgres_skipped']}")
    targets = sqlite_targets + pg_targets
    try:
        report["throughput"] = await throughput(sqlite_targets, counts, pool)
        if pg_targets:
            report["throughput"].update(await throughput(pg_targets, counts, pool))
            report["relaxed"] = await relaxed_puts(pg_targets, counts, pool)
            assert admin is not None
            report["floor"] = await floor_puts(admin, counts, sum(payload.values()))
        report["storage"] = await sizes(targets, counts, pool)
        report["graph"] = await graph_overhead(targets, counts)
    finally:
        if admin is not None:
            await admin.drop_all()
    report["machine"]["load_average_end"] = os.getloadavg()
    return report


# -- markdown ----------------------------------------------------------------------------------


def number(value: float | None, digits: int = 0) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def ranged(cell: dict[str, Any], digits: int = 0) -> str:
    if cell["min"] == cell["max"]:
        return number(cell["median"], digits)
    return (
        f"{number(cell['median'], digits)} ({number(cell['min'], digits)}–"
        f"{number(cell['max'], digits)})"
    )


def ratio(ours: tuple[str, Any], theirs: tuple[str, Any]) -> str:
    """ponder's value over the official saver's, as a bold figure.

    For repeated items, the median of the per-repeat ratios with their range: the two savers
    take turns within a repeat, so each repeat's ratio pairs figures measured side by side
    (load that comes and goes falls on both), where the ratio of the two medians does not.
    """
    ours_value, theirs_value = ours[1], theirs[1]
    if isinstance(ours_value, dict) and isinstance(theirs_value, dict):
        pairs = list(zip(ours_value.get("all", []), theirs_value.get("all", []), strict=False))
        if len(pairs) > 1 and all(official for _, official in pairs):
            ratios = [mine / official for mine, official in pairs]
            low, high = min(ratios), max(ratios)
            return f"**{statistics.median(ratios):.2f}×** ({low:.2f}–{high:.2f})"
        ours_value, theirs_value = ours_value["median"], theirs_value["median"]
    if ours_value is None or not theirs_value:
        return "**n/a**"
    return f"**{ours_value / theirs_value:.2f}×**"


def cell(source: dict[str, Any], path: Sequence[str], digits: int) -> tuple[str, Any]:
    """A value's text (median with its range, for repeats) and the value (a `spread`'s dict)."""
    value: Any = source
    for name in path:
        if not isinstance(value, dict) or name not in value:
            return "n/a", None
        value = value[name]
    if isinstance(value, dict):
        return ranged(value, digits), value
    return number(value, digits), value


KEYS = ("ponder_sqlite", "official_sqlite", "ponder_postgres", "official_postgres")


def rows(report: dict[str, Any]) -> list[tuple[str, str, dict[str, Any], tuple[str, ...], int]]:
    """(measure, which is better, section, path to the value in a target's entry, digits)."""
    c = report["counts"]
    puts, n = f"{c['puts']:,}", f"{c['size_puts']:,}"
    speed, store = report["throughput"], report["storage"]
    found = [
        (f"aput, 1 thread, {puts} puts (puts/s)", "higher", speed, ("puts_per_s",), 0),
        (
            f"aput, 1 thread, {puts} puts, synchronous_commit=off on both: opt-in, not the "
            "default (puts/s)",
            "higher",
            report.get("relaxed", {}),
            ("puts_per_s",),
            0,
        ),
        ("CPU per put, all threads (µs)", "lower", speed, ("cpu_us_per_put",), 0),
        (f"aget_tuple, latest of {puts}, median (ms)", "lower", speed, ("get_ms_median",), 2),
        (f"aget_tuple, latest of {puts}, p95 (ms)", "lower", speed, ("get_ms_p95",), 2),
        (f"alist, all {puts} (ms)", "lower", speed, ("list_ms",), 1),
        (
            f"{c['writers']} concurrent writers × {c['writer_puts']} puts (puts/s)",
            "higher",
            speed,
            ("concurrent_puts_per_s",),
            0,
        ),
        (
            f"storage after {n} checkpoints, 4 of 4 channels new (bytes/checkpoint)",
            "lower",
            store,
            ("all_channels", "bytes_per_checkpoint"),
            0,
        ),
        (
            f"storage after {n} checkpoints, 1 of 4 channels new (bytes/checkpoint)",
            "lower",
            store,
            ("one_channel", "bytes_per_checkpoint"),
            0,
        ),
        (
            f"puts/s while writing those {n} (4 of 4 new)",
            "higher",
            store,
            ("all_channels", "fill_puts_per_s"),
            0,
        ),
        (
            f"aget_tuple, latest of {n}, median (ms)",
            "lower",
            store,
            ("all_channels", "get_ms_median"),
            2,
        ),
    ]
    for durability, graph in report["graph"].items():
        steps = graph["ponder_sqlite"]["checkpoints_per_run"]
        baseline = graph["none"]["run_ms"]["median"]
        found += [
            (
                f"graph run, {durability} durability (ms/run; no saver: {baseline:.1f})",
                "lower",
                graph,
                ("run_ms",),
                1,
            ),
            (
                f"graph, {durability} durability: added ms per step ({steps} steps/run)",
                "lower",
                graph,
                ("added_ms_per_step",),
                2,
            ),
        ]
    return found


def table(report: dict[str, Any]) -> list[str]:
    has_pg = "ponder_postgres" in report["throughput"]
    lines = [
        "| measure | better | ponder SQLite | official SQLite | ponder / official |"
        + (" ponder PostgreSQL | official PostgreSQL | ponder / official |" if has_pg else ""),
        "|---|---|---|---|---|" + ("---|---|---|" if has_pg else ""),
    ]
    for title, better, section, path, digits in rows(report):
        cells = {key: cell(section.get(key, {}), path, digits) for key in KEYS}
        line = f"| {title} | {better} |"
        pairs = [("ponder_sqlite", "official_sqlite")]
        if has_pg:
            pairs.append(("ponder_postgres", "official_postgres"))
        for ours_key, theirs_key in pairs:
            ours, theirs = cells[ours_key], cells[theirs_key]
            line += f" {ours[0]} | {theirs[0]} | {ratio(ours, theirs)} |"
        lines.append(line)
    return lines


def floor_note(report: dict[str, Any]) -> list[str]:
    """The PostgreSQL single writer against the server's floor (`floor_puts`)."""
    floor = report["floor"]["puts_per_s"]
    speed = report["throughput"]
    ours = speed["ponder_postgres"]["puts_per_s"]["median"]
    theirs = speed["official_postgres"]["puts_per_s"]["median"]
    return [
        f"The server's floor for a durable put, a bare asyncpg INSERT of one row holding the "
        f"same {report['payload_bytes']['all_channels']:,.0f} bytes and its commit (one round "
        f"trip, one WAL flush, no saver), run after the savers: {ranged(floor)} puts/s "
        f"({1e6 / floor['median']:.0f} µs a put). ponder's single writer reaches "
        f"{ours / floor['median']:.2f} of it ({1e6 / ours:.0f} µs a put), the official "
        f"saver's {theirs / floor['median']:.2f} ({1e6 / theirs:.0f} µs)."
    ]


def pg_read_back(report: dict[str, Any]) -> str:
    """``synchronous_commit`` of each PostgreSQL saver, in the default and the relaxed run."""
    found = []
    for section, label in (("throughput", ""), ("relaxed", " (opt-in row)")):
        for key in ("ponder_postgres", "official_postgres"):
            value = report.get(section, {}).get(key, {}).get("pg_settings", {})
            if "synchronous_commit" in value:
                found.append(f"{key}{label}: synchronous_commit={value['synchronous_commit']}")
    return "; ".join(found)


def markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    c = report["counts"]
    payload = report["payload_bytes"]
    head = []
    if report["quick"]:
        head += ["**Quick smoke run (`--quick`, small counts): not the benchmark's figures.**", ""]
    durability = "; ".join(
        f"{key}: " + ", ".join(f"{name}={value}" for name, value in settings.items())
        for key in ("ponder_sqlite", "official_sqlite")
        if (settings := report["throughput"].get(key, {}).get("sqlite_settings"))
    )
    head += [
        f"Machine: {m['machine']}, {m['cores']} cores; Python {m['python']}; SQLite {m['sqlite']} "
        f"(default synchronous={m['sqlite_default_synchronous']}); temp files on "
        f"{m['temp_filesystem']}; PostgreSQL {m.get('postgresql', 'not run')}; load average "
        f"{m['load_average_start'][0]:.2f} at start, {m['load_average_end'][0]:.2f} at end.",
        f"Versions: {', '.join(f'{k} {v}' for k, v in m['versions'].items())}.",
        f"SQLite settings read back from each saver's connection: {durability} "
        "(synchronous 2 = FULL).",
        *(
            [f"PostgreSQL settings read back from each saver's connection: {pg_durability}."]
            if (pg_durability := pg_read_back(report))
            else []
        ),
        "",
        f"Each checkpoint carries {payload['all_channels']:,.0f} bytes of channel values "
        f"(msgpack) in {len(CHANNELS)} channels; throughput items are medians of "
        f"{c['repeats']} repeats (range in brackets), the savers taking turns in blocks of "
        f"{BLOCK} puts, and their ratios the median of the {c['repeats']} per-repeat ratios "
        "(range in brackets; each pairs figures measured side by side); graph items are "
        "medians of "
        f"{c['graph_runs']} runs of self-consistency (max_samples=8, agreement=1.0, scripted "
        "model), a step being one checkpoint written.",
        "",
    ]
    notes = ["", *floor_note(report)] if "floor" in report else []
    notes += [
        "",
        "Storage is measured after each saver is closed (closing the last connection "
        "checkpoints SQLite's WAL into the database file and removes it); it counts the database "
        "file plus any -wal file left. PostgreSQL storage is pg_total_relation_size (heap, "
        "indexes, TOAST) of each saver's tables.",
        "",
        "On SQLite, ponder's hot calls (aput, aput_writes, aget_tuple, alist) run as one "
        "function call each in a worker thread holding one sqlite3 connection "
        "(ponder/persistence/_sqlite_fast.py): per put, BEGIN IMMEDIATE, one INSERT per channel "
        "with a new version into ponder_checkpoint_blobs (executemany), the checkpoint without "
        "its values into ponder_checkpoints, COMMIT. The official saver writes the whole "
        "checkpoint, values included, as one INSERT OR REPLACE row and commits, through "
        "aiosqlite (several thread round trips per put). Both commit, and fsync the WAL, once "
        "per put. On PostgreSQL, ponder's hot calls run on raw asyncpg connections: on the "
        "loop that awaits them, a share of the pool opened there "
        "(ponder/persistence/_pg_caller.py), else on the saver's own thread "
        "(ponder/persistence/_pg_fast.py; writers in parallel either way): a put "
        "is one statement (the new values in a data-modifying CTE, listed in a VALUES list up"
        " to 32 of them, then the checkpoint row), one round trip and one commit; a lookup or"
        " a listing page is two queries, the checkpoint rows, then their values and pending "
        "writes, each looked up by its primary key (LATERAL probes over unnest() arrays). The"
        " official saver goes through psycopg, one connection, in autocommit, a put's "
        "statements pipelined (one commit per put).",
        "",
        "The synchronous_commit=off row is an opt-in on both savers, not their default: "
        "ponder's connections get it through engine_options (connect_args server_settings), "
        "the official saver's through the options of its connection string; a commit then "
        "returns before the server has flushed its WAL.",
    ]
    if "postgres_skipped" in report:
        notes.append(f"PostgreSQL skipped: {report['postgres_skipped']}.")
    return "\n".join(head + table(report) + notes) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small counts, for a smoke run")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--pg-url", default=PG_URL)
    parser.add_argument("--dir", default=None, help="where the temporary databases go")
    parser.add_argument("--out", default=str(RESULTS / "checkpointer"))
    parser.add_argument(
        "--repeats", type=int, default=None, help="repeats of the throughput items (default 5)"
    )
    args = parser.parse_args()
    counts = QUICK if args.quick else Counts()
    if args.repeats is not None:
        if args.repeats < 1:
            parser.error("--repeats must be at least 1")
        counts = dataclasses.replace(counts, repeats=args.repeats)
    with tempfile.TemporaryDirectory(prefix="ponder-bench-", dir=args.dir) as folder:
        report = asyncio.run(
            run(counts, args.quick, Path(folder), None if args.no_postgres else args.pg_url)
        )
    write_report(report, markdown(report), Path(args.out))


if __name__ == "__main__":
    main()
