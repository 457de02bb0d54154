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
import gc
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from langgraph.checkpoint.conformance.test_utils import (
    generate_checkpoint,
    generate_config,
    generate_metadata,
)

from ponder.persistence import SqlCheckpointer, _pg_caller
from ponder.persistence._pg_caller import BIND_AFTER, split_pool
from tests.persistence.conftest import StoreSpec, pg_fetch


@pytest.mark.parametrize(
    ("options", "engine", "slots"),
    [
        (None, {"max_overflow": 5}, 5),
        ({"pool_size": 2, "max_overflow": 0}, {"pool_size": 2, "max_overflow": 0}, 0),
        ({"pool_size": 4, "max_overflow": 2}, {"pool_size": 4, "max_overflow": 0}, 2),
        ({"pool_size": 2, "max_overflow": 8}, {"pool_size": 2, "max_overflow": 6}, 2),
        ({"pool_size": 3, "max_overflow": -1}, {"pool_size": 3, "max_overflow": -1}, 3),
        ({"poolclass": object}, {"poolclass": object}, 0),
        ({"pool_size": "5"}, {"pool_size": "5"}, 0),  # the engine refuses it, not this
    ],
)
def test_the_home_share_comes_out_of_the_overflow(
    options: dict[str, Any] | None, engine: dict[str, Any], slots: int
) -> None:
    assert split_pool(options) == (engine, slots)
    given = options or {}
    if slots and given.get("max_overflow", 10) >= 0:
        assert engine.get("pool_size", 5) == given.get("pool_size", 5)  # the size is kept
        total = given.get("pool_size", 5) + given.get("max_overflow", 10)
        assert engine.get("pool_size", 5) + engine["max_overflow"] + slots == total


@pytest.fixture
def bind_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """A loop becomes home at its first hot call (not its `BIND_AFTER`-th)."""
    monkeypatch.setattr(_pg_caller, "BIND_AFTER", 1)


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


@pytest.mark.usefixtures("bind_at_once")
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


@pytest.mark.usefixtures("bind_at_once")
async def test_calls_beyond_the_home_connections_take_the_thread(pg_store: StoreSpec) -> None:
    options = {"pool_size": 2, "max_overflow": 2}  # the home loop gets 2, the thread 2
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


@pytest.mark.usefixtures("bind_at_once")
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


@pytest.mark.usefixtures("bind_at_once")
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


@pytest.mark.usefixtures("bind_at_once")
def test_sync_calls_and_a_closed_saver(pg_store: StoreSpec) -> None:
    with pg_store.open() as saver:
        stored = asyncio.run(put(saver, "sync", 1))
        found = saver.get_tuple(stored)  # no loop here: the saver's thread
        assert found is not None and found.checkpoint["channel_values"] == {"a": 1}
    assert saver._caller is not None and saver._caller.home is None  # noqa: SLF001


def connections(name: str) -> int:
    """Server connections whose application_name is ``name``."""
    found = pg_fetch("SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", name)
    return int(found[0][0])


def named(store: StoreSpec, name: str, **pool: int) -> SqlCheckpointer:
    options: dict[str, Any] = {"connect_args": {"server_settings": {"application_name": name}}}
    return SqlCheckpointer.from_url(
        store.url, schema=store.schema, engine_options={**options, **pool}
    )


def test_a_loop_becomes_home_at_its_bind_after_th_call(pg_store: StoreSpec) -> None:
    saver = named(pg_store, "ponder-bind-test")

    async def puts(step: int, count: int) -> bool:
        for index in range(count):
            await put(saver, f"bind-{step}", index)
        assert saver._caller is not None  # noqa: SLF001
        return saver._caller.home is asyncio.get_running_loop()  # noqa: SLF001

    # One asyncio.run per call, as sync code may do: no loop pays to connect for one call.
    assert not any(asyncio.run(puts(step, 1)) for step in range(3))
    assert not asyncio.run(puts(3, BIND_AFTER - 1))
    assert asyncio.run(puts(4, BIND_AFTER + 1))
    saver.close()
    assert connections("ponder-bind-test") == 0


def test_a_pool_without_overflow_keeps_every_call_on_the_thread(pg_store: StoreSpec) -> None:
    saver = named(pg_store, "ponder-capped-test", pool_size=2, max_overflow=0)
    assert saver._caller is None  # noqa: SLF001 - a Ray worker's pool (ponder.distributed)
    with saver:
        assert asyncio.run(put(saver, "capped", 1)) is not None


def settled(name: str, most: int) -> int:
    """The connection count of ``name`` once at most ``most`` (ended backends take a moment)."""
    for _ in range(50):
        if (found := connections(name)) <= most:
            return found
        time.sleep(0.05)
    return connections(name)


@pytest.mark.usefixtures("bind_at_once")
@pytest.mark.filterwarnings("ignore::ResourceWarning")  # asyncpg's, for the given-up sockets
def test_a_home_loop_closed_without_shutdown_gives_its_connections_up(
    pg_store: StoreSpec,
) -> None:
    name = "ponder-orphan-test"
    saver = named(pg_store, name, pool_size=2, max_overflow=2)  # 2 at home, 2 on the thread

    async def together(thread_id: str) -> None:
        await asyncio.gather(*(put(saver, f"{thread_id}-{index}", index) for index in range(4)))

    bare = asyncio.new_event_loop()
    bare.run_until_complete(together("bare"))
    for index in range(2):  # calls in flight when the loop closes
        bare.create_task(put(saver, f"in-flight-{index}", index))
    bare.run_until_complete(asyncio.sleep(0))
    bare.close()  # no shutdown_asyncgens: the home connections cannot be closed any more
    assert connections(name) >= 2
    asyncio.run(together("next"))  # no loop becomes home again: the orphans still count
    assert saver._caller is not None and saver._caller.home is None  # noqa: SLF001
    assert connections(name) <= 4
    saver.close()
    gc.collect()  # the given-up connections, while their ResourceWarnings are ignored
    assert settled(name, 0) == 0


@pytest.mark.usefixtures("bind_at_once")
async def test_closed_savers_leave_nothing_behind(pg_store: StoreSpec) -> None:
    live = len(_pg_caller._LIVE)  # noqa: SLF001
    for index in range(5):
        async with pg_store.open() as saver:
            await put(saver, f"gone-{index}", index)
            assert saver._caller is not None  # noqa: SLF001
            assert saver._caller.home is asyncio.get_running_loop()  # noqa: SLF001
    assert len(_pg_caller._LIVE) == live  # noqa: SLF001


@pytest.mark.usefixtures("bind_at_once")
def test_closing_from_another_loop_closes_a_running_home_and_spares_an_idle_one(
    pg_store: StoreSpec,
) -> None:
    name = "ponder-elsewhere-test"
    for idle in (False, True):
        saver = named(pg_store, name)
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever)
        thread.start()
        asyncio.run_coroutine_threadsafe(put(saver, "elsewhere", 1), loop).result()
        if idle:
            loop.call_soon_threadsafe(loop.stop)
            thread.join()
        assert connections(name) >= 1
        asyncio.run(asyncio.wait_for(saver.aclose(), 10))  # never waits on an idle loop
        if idle:  # its shutdown closes them
            loop.run_until_complete(loop.shutdown_asyncgens())
        else:
            loop.call_soon_threadsafe(loop.stop)
            thread.join()
        loop.close()
        assert connections(name) == 0


@pytest.mark.usefixtures("bind_at_once")
def test_closing_the_saver_while_its_home_loop_shuts_down(pg_store: StoreSpec) -> None:
    name = "ponder-shutdown-test"
    saver = named(pg_store, name)

    async def holder() -> Any:
        try:
            yield
        finally:  # runs in shutdown_asyncgens, beside the home's own generator
            await saver.aclose()

    async def main() -> None:
        await put(saver, "shutdown", 1)
        generator = holder()
        await generator.asend(None)
        main.generator = generator  # type: ignore[attr-defined]  # kept alive until shutdown

    asyncio.run(main())
    assert connections(name) == 0
