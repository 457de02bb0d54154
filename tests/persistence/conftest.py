"""Fixtures for the checkpointer tests: every store-level test runs on SQLite and PostgreSQL.

PostgreSQL is the real server at 127.0.0.1:5432 (user postgres, database test); each store
gets a fresh schema, dropped afterwards, so runs never see each other's rows. An unreachable
server fails the PostgreSQL tests: they are never skipped.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import sqlite3
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from ponder.persistence import SqlCheckpointer

BACKENDS = ("sqlite", "postgres")
PG_DSN = "postgresql://postgres@127.0.0.1:5432/test"
PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
_SCHEMA_NAME = re.compile(r"^ponder_test_[0-9a-f]{16}$")


@dataclass(frozen=True)
class StoreSpec:
    """Where a test store lives: a SQLite file, or a PostgreSQL schema."""

    backend: str
    url: str
    schema: str | None = None
    path: Path | None = None

    def open(self) -> SqlCheckpointer:
        return SqlCheckpointer.from_url(self.url, schema=self.schema)

    def query(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        """Run a constant test query on the store, outside the saver (sqlite3 / asyncpg)."""
        if self.path is not None:
            with sqlite3.connect(self.path) as conn:
                return [tuple(row) for row in conn.execute(sql.replace("$1", "?"), args)]
        return [tuple(row) for row in pg_fetch(sql, *args, schema=self.schema)]


def run_in_thread(coroutine: Any) -> Any:
    """Run a coroutine to completion in a fresh loop, whether or not a loop is running here."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def pg_fetch(sql: str, *args: Any, schema: str | None = None) -> list[Any]:
    async def fetch() -> list[Any]:
        settings = {"search_path": schema} if schema else None
        conn = await asyncpg.connect(PG_DSN, server_settings=settings)
        try:
            return list(await conn.fetch(sql, *args))
        finally:
            await conn.close()

    return list(run_in_thread(fetch()))


def drop_schemas(schemas: Sequence[str]) -> None:
    async def drop() -> None:
        conn = await asyncpg.connect(PG_DSN)
        try:
            for schema in schemas:
                assert _SCHEMA_NAME.match(schema), schema  # a name we generated, safe to quote
                await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await conn.close()

    run_in_thread(drop())


def new_schema_name() -> str:
    return f"ponder_test_{uuid.uuid4().hex[:16]}"


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class StoreFactory:
    """Makes fresh, empty stores; drops the PostgreSQL schemas it made when closed."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder
        self._counter = itertools.count()
        self._schemas: list[str] = []

    def make(self, backend: str) -> StoreSpec:
        if backend == "sqlite":
            path = self._folder / f"store-{next(self._counter)}.db"
            return StoreSpec(backend, f"sqlite+aiosqlite:///{path}", path=path)
        self._schemas.append(new_schema_name())
        return StoreSpec(backend, PG_URL, schema=self._schemas[-1])

    def close(self) -> None:
        if self._schemas:
            drop_schemas(self._schemas)


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[StoreFactory]:
    factory = StoreFactory(tmp_path)
    yield factory
    factory.close()


@pytest.fixture
def new_store(backend: str, stores: StoreFactory) -> Callable[[], StoreSpec]:
    """A factory of fresh, empty stores on the test's backend."""
    return lambda: stores.make(backend)


@pytest.fixture
def pg_store(stores: StoreFactory) -> StoreSpec:
    """A fresh PostgreSQL schema, for tests about PostgreSQL alone."""
    return stores.make("postgres")


@pytest.fixture
def store(new_store: Callable[[], StoreSpec]) -> StoreSpec:
    return new_store()


@pytest.fixture
async def saver(store: StoreSpec) -> AsyncIterator[SqlCheckpointer]:
    async with store.open() as saver:
        yield saver
