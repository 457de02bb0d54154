"""Executors: where the runs of a many-problem job go, one process or a Ray cluster.

A job is described once, as plain picklable data (a `Job`), and run over its items by an
`Executor`. Each worker process opens the job once (`Job.open`: it loads the model, opens
the store, its connection pool capped on a Ray worker) and then runs items with the
`JobWorker` it got; the executor sends the items and collects the results, in item order,
calling ``on_result`` as each arrives (the driver's progress line).

- `LocalExecutor` (``"local"``): today's behaviour, the one process, ``concurrency`` items in
  flight at once.
- `ponder.distributed.RayExecutor` (``"ray"``): an actor per worker on a Ray cluster, each
  with ``concurrency`` items in flight; a worker that dies is restarted and its items are
  retried (the ``ray`` extra).

Example:
    >>> LocalExecutor(concurrency=2).concurrency
    2
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, Generic, Literal, Protocol, TypeVar

from ponder.errors import ConfigurationError

__all__ = (
    "Executor",
    "ExecutorName",
    "Job",
    "JobWorker",
    "LocalExecutor",
    "OnResult",
    "gather_or_cancel",
)

ItemT = TypeVar("ItemT")
ResultT = TypeVar("ResultT")
ItemT_contra = TypeVar("ItemT_contra", contravariant=True)
ResultT_co = TypeVar("ResultT_co", covariant=True)

ExecutorName = Literal["local", "ray"]
"""Where a job's runs go:

- ``local``: this process, ``concurrency`` runs at once;
- ``ray``: a Ray cluster (``address``; a local one when none is given), ``workers`` actors,
  each loading the model once and running ``concurrency`` runs at once.
"""

OnResult = Callable[[int, Any], None]
"""Called on the driver as each item's result arrives: ``(index, result)``."""


class JobWorker(Protocol[ItemT_contra, ResultT_co]):
    """What one worker process runs items with (its model loaded, its store open)."""

    async def run(self, item: ItemT_contra) -> ResultT_co:
        """Run one item and return its result."""
        ...


class Job(abc.ABC, Generic[ItemT, ResultT]):
    """A job's description, sent to every worker (so: plain, picklable data)."""

    @abc.abstractmethod
    def open(
        self, *, pool_size: int | None = None
    ) -> contextlib.AbstractAsyncContextManager[JobWorker[ItemT, ResultT]]:
        """Open the job in this process: load what every item needs, once.

        Args:
            pool_size: The most database connections each store the job opens here may
                hold (no overflow; `ponder.distributed.durable.pool_options`); ``None``:
                SQLAlchemy's default pool. A Ray worker passes its executor's ``pool_size``.
        """


def _check_count(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(f"{name} must be a positive whole number, got {value!r}")
    return value


async def gather_or_cancel(coroutines: Sequence[Coroutine[Any, Any, None]]) -> None:
    """Run ``coroutines`` together; at the first that raises, cancel the rest and re-raise."""
    tasks = [asyncio.ensure_future(c) for c in coroutines]
    if not tasks:
        return
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            task.result()  # the first failure, if any
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class Executor(abc.ABC):
    """Runs a `Job` over its items and returns their results in item order."""

    concurrency: int
    """Items in flight at once in each worker."""

    @abc.abstractmethod
    async def amap(
        self,
        job: Job[ItemT, ResultT],
        items: Sequence[ItemT],
        *,
        on_result: OnResult | None = None,
    ) -> list[ResultT]:
        """Run ``job`` on every item; ``on_result`` is called as each result arrives.

        Raises:
            Exception: Whatever an item raised (the job's own errors are its results).
        """


class LocalExecutor(Executor):
    """This process: one `JobWorker`, ``concurrency`` items at once."""

    def __init__(self, *, concurrency: int = 1) -> None:
        self.concurrency = _check_count("concurrency", concurrency)

    async def amap(
        self,
        job: Job[ItemT, ResultT],
        items: Sequence[ItemT],
        *,
        on_result: OnResult | None = None,
    ) -> list[ResultT]:
        """Run ``job`` on every item in this process (see `Executor.amap`)."""
        results: list[Any] = [None] * len(items)
        gate = asyncio.Semaphore(self.concurrency)
        async with job.open() as worker:

            async def one(index: int, item: ItemT) -> None:
                async with gate:
                    results[index] = await worker.run(item)
                if on_result is not None:
                    on_result(index, results[index])

            await gather_or_cancel([one(i, item) for i, item in enumerate(items)])
        return results
