"""The PostgreSQL fast path on the caller's loop (`ponder.persistence._pg_caller`).

- the home loop's share of the pool leaves the pool's limit as it was, and one connection to
  the saver's own engine;
- on the home loop, hot calls make no trip to the saver's thread;
- calls beyond the home loop's connections, and calls from another loop at the same time,
  take the thread, and every write is stored;
- the home loop's connections are closed when it shuts down, and by the saver's ``aclose``;
  the next loop becomes home;
- a capped pool stays capped, counted by the server.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from langgraph.checkpoint.conformance.test_utils import (
    generate_checkpoint,
    generate_config,
    generate_metadata,
)

from ponder.persistence import SqlCheckpointer
from ponder.persistence._pg_caller import split_pool
from tests.persistence.conftest import StoreSpec, pg_fetch


@pytest.mark.parametrize(
    ("options", "engine", "slots"),
    [
        (None, {"max_overflow": 5}, 5),
        ({"pool_size": 2, "max_overflow": 0}, {"pool_size": 1, "max_overflow": 0}, 1),
        ({"pool_size": 1, "max_overflow": 0}, {"pool_size": 1, "max_overflow": 0}, 0),
        ({"pool_size": 4, "max_overflow": 2}, {"pool_size": 2, "max_overflow": 0}, 4),
        ({"pool_size": 3, "max_overflow": -1}, {"pool_size": 3, "max_overflow": -1}, 3),
        ({"poolclass": object}, {"poolclass": object}, 0),
        ({"pool_size": "5"}, {"pool_size": "5"}, 0),  # the engine refuses it, not this
    ],
)
def test_the_home_share_keeps_the_pools_limit(
    options: dict[str, Any] | None, engine: dict[str, Any], slots: int
) -> None:
    assert split_pool(options) == (engine, slots)
    if slots and isinstance(options, dict) and options.get("max_overflow", 10) >= 0:
        total = options.get("pool_size", 5) + options.get("max_overflow", 10)
        assert engine.get("pool_size", 5) + engine["max_overflow"] + slots == total


async def put(saver: SqlCheckpointer, thread_id: str, value: int) -> Any:
    version: dict[str, str | int | float] = {"a": value + 1}  # a new version per value
    checkpoint = generate_checkpoint(channel_values={"a": value}, channel_versions=version)
    return await saver.aput(generate_config(thread_id), checkpoint, generate_metadata(), version)


@contextmanager
def hops(saver: SqlCheckpointer) -> Iterator[list[str]]:
    """Record the coroutines sent to the saver's thread while the block runs."""
    runner = saver._runner  # noqa: SLF001 - test peek
    sent: list[str] = []
    submit = runner.submit

    def counted(coroutine: Any) -> Any:
        sent.append(coroutine.__qualname__)
        return submit(coroutine)

    runner.submit = counted  # type: ignore[method-assign]
    try:
        yield sent
    finally:
        runner.submit = submit  # type: ignore[method-assign]


async def test_hot_calls_on_the_home_loop_make_no_hop(pg_store: StoreSpec) -> None:
    async with pg_store.open() as saver:
        await saver.setup()
        with hops(saver) as sent:
            stored = await put(saver, "home", 1)
            await saver.aput_writes(stored, [("a", 2)], "task")
            found = await saver.aget_tuple(stored)
            listed = [item async for item in saver.alist(None)]
        assert saver._caller is not None  # noqa: SLF001
        assert saver._caller.home is asyncio.get_running_loop()  # noqa: SLF001
        with hops(saver) as not_hot:
            await saver.adelete_thread("nothing")
    assert sent == []
    assert found is not None and found.pending_writes == [("task", "a", 2)]
    assert [item.config for item in listed] == [stored]
    assert not_hot == ["Store.delete_threads"]


async def test_calls_beyond_the_home_connections_take_the_thread(pg_store: StoreSpec) -> None:
    options = {"pool_size": 3, "max_overflow": 0}  # the home loop gets 2, the thread 1
    async with SqlCheckpointer.from_url(
        pg_store.url, schema=pg_store.schema, engine_options=options
    ) as saver:
        await saver.setup()
        with hops(saver) as sent:
            await asyncio.gather(*(put(saver, f"many-{index}", index) for index in range(8)))
        for index in range(8):
            found = await saver.aget_tuple(generate_config(f"many-{index}"))
            assert found is not None and found.checkpoint["channel_values"] == {"a": index}
    assert 0 < sent.count("PgFastPath.put") <= 6


async def test_another_loop_at_the_same_time_takes_the_thread(pg_store: StoreSpec) -> None:
    async with pg_store.open() as saver:
        await put(saver, "home", 0)  # this loop is home
        failures: list[BaseException] = []

        async def elsewhere() -> None:
            for index in range(20):
                await put(saver, "elsewhere", index)

        def run() -> None:
            try:
                asyncio.run(elsewhere())
            except BaseException as exc:  # reported below
                failures.append(exc)

        thread = threading.Thread(target=run)
        thread.start()
        for index in range(20):
            await put(saver, "home", index)
        await asyncio.to_thread(thread.join)
        assert failures == []
        assert saver._caller is not None  # noqa: SLF001
        assert saver._caller.home is asyncio.get_running_loop()  # noqa: SLF001
        for thread_id in ("home", "elsewhere"):
            found = await saver.aget_tuple(generate_config(thread_id))
            assert found is not None and found.checkpoint["channel_values"] == {"a": 19}


def test_the_home_loops_connections_close_with_it(pg_store: StoreSpec) -> None:
    name = "ponder-home-test"
    options = {"connect_args": {"server_settings": {"application_name": name}}}
    saver = SqlCheckpointer.from_url(pg_store.url, schema=pg_store.schema, engine_options=options)

    async def use(step: int) -> list[Any]:
        await asyncio.gather(*(put(saver, f"loop-{step}", index) for index in range(3)))
        assert saver._caller is not None and saver._caller.path is not None  # noqa: SLF001
        return [borrowed.raw for borrowed in saver._caller.path._idle]  # noqa: SLF001

    first = asyncio.run(use(0))
    second = asyncio.run(use(1))  # the first loop is closed: this one is home now
    assert first and second and not set(first) & set(second)
    assert all(raw.is_closed() for raw in first + second)

    async def last() -> list[Any]:
        kept = await use(2)
        await saver.aclose()  # on the home loop: closes its connections at once
        return kept

    kept = asyncio.run(last())
    assert all(raw.is_closed() for raw in kept)
    assert pg_fetch(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", name
    ) == [(0,)]  # fmt: skip


def test_sync_calls_and_a_closed_saver(pg_store: StoreSpec) -> None:
    with pg_store.open() as saver:
        stored = asyncio.run(put(saver, "sync", 1))
        found = saver.get_tuple(stored)  # no loop here: the saver's thread
        assert found is not None and found.checkpoint["channel_values"] == {"a": 1}
    assert saver._caller is not None and saver._caller.home is None  # noqa: SLF001
