"""A Ray worker's store holds a small, bounded connection pool on PostgreSQL.

- `pool_options` caps a pool at ``pool_size`` with no overflow; bad sizes are refused;
- a worker's store is capped on PostgreSQL only (a SQLite file has no server to share);
- the PostgreSQL fast path never keeps every connection of a capped pool to itself (else the
  store's other calls wait for one until they time out);
- runs in flight beyond the cap share the worker's store: they all finish, and the server
  never sees more than ``pool_size`` connections from it (counted in ``pg_stat_activity``).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from ponder.distributed.durable import (
    WORKER_POOL_SIZE,
    arun_durable,
    open_worker_store,
    pool_options,
    worker_engine_options,
)
from ponder.errors import ConfigurationError
from ponder.persistence._pg_fast import _kept
from ponder.persistence.sqlalchemy import SqlCheckpointer
from tests.distributed.models import scripted
from tests.persistence.conftest import PG_DSN, PG_URL, drop_schemas, new_schema_name

RUNS = 8
"""Runs in flight at once on one worker's store: more than its pool holds."""


def test_pool_options_cap_the_pool_without_overflow() -> None:
    assert WORKER_POOL_SIZE == 2
    assert pool_options(2) == {"pool_size": 2, "max_overflow": 0}
    assert pool_options(None) == {}
    for bad in (0, -1, True, 1.5, "2"):
        with pytest.raises(ConfigurationError, match="pool_size"):
            pool_options(bad)  # type: ignore[arg-type]


def test_a_worker_store_is_capped_on_postgresql_only() -> None:
    assert worker_engine_options(f"{PG_URL}?schema=s", 3) == {"pool_size": 3, "max_overflow": 0}
    assert worker_engine_options("sqlite+aiosqlite:///runs.db", 3) == {}
    with pytest.raises(ConfigurationError, match="pool_size"):
        worker_engine_options("sqlite+aiosqlite:///runs.db", 0)


@pytest.mark.parametrize(
    ("options", "kept"),
    [({}, 5), ({"pool_size": 2, "max_overflow": 0}, 1), ({"pool_size": 1, "max_overflow": 0}, 0)],
)
def test_the_fast_path_leaves_the_pool_a_connection(options: dict[str, Any], kept: int) -> None:
    engine = create_async_engine(PG_URL, **options)  # connects to nothing
    assert _kept(engine.pool) == kept


@pytest.fixture
def schema() -> Iterator[str]:
    name = new_schema_name()
    try:
        yield name
    finally:
        drop_schemas([name])


async def _connections(tag: str) -> int:
    conn = await asyncpg.connect(PG_DSN)
    try:
        return int(
            await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", tag
            )
        )
    finally:
        await conn.close()


def _tagged(monkeypatch: pytest.MonkeyPatch, tag: str) -> None:
    """Name the connections of the stores `open_worker_store` opens (options kept as they are)."""
    opened = SqlCheckpointer.from_url

    def from_url(url: str, **kwargs: Any) -> SqlCheckpointer:
        options = dict(kwargs.pop("engine_options", None) or {})
        options["connect_args"] = {"server_settings": {"application_name": tag}}
        return opened(url, engine_options=options, **kwargs)

    monkeypatch.setattr(SqlCheckpointer, "from_url", from_url)


async def _most_connections(db: str, pool_size: int | None, tag: str) -> tuple[int, list[str]]:
    """Run `RUNS` runs at once on one worker store; the most connections seen, and statuses."""
    most = 0
    async with open_worker_store(db, pool_size=pool_size) as store:
        model = scripted(delay=0.05)
        runs = asyncio.gather(
            *(
                arun_durable(
                    f"Problem {i:02d}: what is {i} + 1?",
                    "self-consistency",
                    db=store,
                    run_id=f"pool-{i}",
                    model=model,
                    max_samples=8,
                    pause_on_budget=False,
                )  # fmt: skip
                for i in range(RUNS)
            )
        )
        while not runs.done():
            most = max(most, await _connections(tag))
            await asyncio.sleep(0.01)
        results = await runs
    return most, [r.status for r in results]


@pytest.mark.parametrize("pool_size", [1, WORKER_POOL_SIZE])
async def test_runs_beyond_the_cap_share_the_workers_connections(
    pool_size: int, schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    tag = f"ponder-pool-{uuid.uuid4().hex[:8]}"
    _tagged(monkeypatch, tag)
    most, statuses = await _most_connections(f"{PG_URL}?schema={schema}", pool_size, tag)
    assert statuses == ["done"] * RUNS
    assert 1 <= most <= pool_size


async def test_without_the_cap_the_same_runs_open_more(
    schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    tag = f"ponder-pool-{uuid.uuid4().hex[:8]}"
    _tagged(monkeypatch, tag)
    most, statuses = await _most_connections(f"{PG_URL}?schema={schema}", None, tag)
    assert statuses == ["done"] * RUNS
    assert most > WORKER_POOL_SIZE
