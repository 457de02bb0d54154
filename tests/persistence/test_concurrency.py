"""Many writers on one store at once: no "database is locked", no lost checkpoint."""

from __future__ import annotations

import asyncio
import multiprocessing
from pathlib import Path
from typing import Any

from langgraph.checkpoint.conformance.test_utils import (
    generate_checkpoint,
    generate_config,
    generate_metadata,
)

from ponder.persistence import SqlCheckpointer
from tests.persistence.conftest import StoreSpec

WRITERS = 16
STEPS = 8


async def write_thread(saver: SqlCheckpointer, thread_id: str, steps: int) -> None:
    parent = None
    for step in range(steps):
        config = generate_config(thread_id)
        if parent is not None:
            config["configurable"]["checkpoint_id"] = parent["configurable"]["checkpoint_id"]
        checkpoint = generate_checkpoint(
            channel_values={"step": step, "shared": "s"},
            channel_versions={"step": step + 1, "shared": 1},
        )
        parent = await saver.aput(
            config, checkpoint, generate_metadata(step=step), {"step": step + 1, "shared": 1}
        )
        await saver.aput_writes(parent, [("step", step), ("log", thread_id)], f"task-{step}")


async def test_sixteen_savers_write_one_store_at_once(store: StoreSpec) -> None:
    # Sixteen savers, so sixteen engines and connections: on SQLite they contend for the file
    # lock as separate processes would. Their first use (schema creation) races too.
    savers = [store.open() for _ in range(WRITERS)]
    try:

        async def reader() -> int:
            seen = 0
            for _ in range(20):
                seen = max(seen, len([item async for item in savers[0].alist(None)]))
                await asyncio.sleep(0)
            return seen

        results = await asyncio.gather(
            *(write_thread(saver, f"writer-{index}", STEPS) for index, saver in enumerate(savers)),
            reader(),
        )
        assert isinstance(results[-1], int)
        listed = [item async for item in savers[-1].alist(None)]
    finally:
        await asyncio.gather(*(saver.aclose() for saver in savers))
    assert len(listed) == WRITERS * STEPS
    assert all(len(item.pending_writes or []) == 2 for item in listed)
    assert store.query("SELECT count(*) FROM ponder_checkpoint_writes") == [(WRITERS * STEPS * 2,)]
    # "shared" never changed version: one value per thread, not one per checkpoint.
    assert store.query("SELECT count(*) FROM ponder_checkpoint_blobs WHERE channel = 'shared'") == [
        (WRITERS,)
    ]


def _write_from_process(url: str, thread_id: str, barrier: Any) -> None:
    async def main() -> None:
        async with SqlCheckpointer.from_url(url) as saver:
            await saver.setup()
            barrier.wait(timeout=60)
            await write_thread(saver, thread_id, 15)

    asyncio.run(main())


def test_processes_write_one_sqlite_file_at_once(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/shared.db"
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(4)
    processes = [
        context.Process(target=_write_from_process, args=(url, f"process-{index}", barrier))
        for index in range(4)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
    assert [process.exitcode for process in processes] == [0, 0, 0, 0]
    with SqlCheckpointer.from_url(url) as saver:
        assert len(list(saver.list(None))) == 60
