"""The Ray executor: a job's items spread over actors of a Ray cluster (the ``ray`` extra).

Each worker is a Ray actor that opens the job once (so the embedded model is loaded once per
worker, and its store once, with at most ``pool_size`` database connections) and runs
``concurrency`` items at once on its own event loop. The driver keeps every
worker busy, pulling the next item as one finishes, and gets the results back in item order.

A worker that dies (killed, out of memory, its machine gone) is restarted by Ray, up to
`RESTARTS` times, and the items it had in flight are sent to it again, up to `RETRIES` times.
A job whose items are durable (a bench, or `ponder.distributed.asolve_many` with ``db=``)
then resumes each interrupted run from its last checkpoint: no model call whose result was
checkpointed is made again (`ponder.distributed.durable`).

Connecting: ``address=None`` starts a local cluster on this machine for the job, bound to the
loopback interface, and stops it at the end; ``address="auto"`` or ``"HOST:PORT"`` joins a
running cluster (started with ``ray start --head``). When Ray is already initialised in this
process (``ray.init(...)`` called by the user), that cluster is used and left running.

Example:
    >>> executor = RayExecutor(workers=2, concurrency=4)  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Sequence
from functools import cache
from typing import Any, TypeVar

from ponder.distributed.durable import WORKER_POOL_SIZE, pool_options
from ponder.distributed.executor import (
    Executor,
    Job,
    JobWorker,
    OnResult,
    _check_count,
    gather_or_cancel,
)
from ponder.errors import ConfigurationError

__all__ = ("RESTARTS", "RETRIES", "RayExecutor")

ItemT = TypeVar("ItemT")
ResultT = TypeVar("ResultT")

RESTARTS = 4
"""Times Ray restarts a worker that died."""
RETRIES = 4
"""Times Ray sends an item again after its worker died."""


def _ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise ConfigurationError("the Ray executor needs Ray: pip install 'ponder[ray]'") from exc
    return ray


class _Worker:
    """One worker's actor: the job opened once, its items run on the actor's loop."""

    def __init__(self, job: Job[Any, Any], pool_size: int | None) -> None:
        self._job = job
        self._pool_size = pool_size
        self._stack = contextlib.AsyncExitStack()
        self._worker: JobWorker[Any, Any] | None = None
        self._opening: asyncio.Lock | None = None

    async def run(self, item: Any) -> Any:
        if self._opening is None:
            self._opening = asyncio.Lock()
        async with self._opening:
            if self._worker is None:
                self._worker = await self._stack.enter_async_context(
                    self._job.open(pool_size=self._pool_size)
                )
        return await self._worker.run(item)

    async def pid(self) -> int:
        return os.getpid()

    async def close(self) -> None:
        await self._stack.aclose()
        self._worker = None


@cache
def _actor_class() -> Any:
    return _ray().remote(_Worker)


class RayExecutor(Executor):
    """Runs a job's items on ``workers`` Ray actors, ``concurrency`` at once in each."""

    def __init__(
        self,
        *,
        address: str | None = None,
        workers: int | None = None,
        concurrency: int = 1,
        cpus_per_worker: float = 1.0,
        pool_size: int | None = WORKER_POOL_SIZE,
        init_options: dict[str, Any] | None = None,
    ) -> None:
        """Describe the executor (nothing connects until `amap`).

        Args:
            address: The cluster (``"auto"``, ``"HOST:PORT"``); a local one when ``None``.
            workers: Actors to start; one per CPU of the cluster when ``None``.
            concurrency: Items in flight at once in each actor.
            cpus_per_worker: CPUs Ray reserves for each actor.
            pool_size: The most database connections each actor's run store holds (no
                overflow; a bench's actor holds one more, for its results): the
                ``concurrency`` runs in flight share them (`WORKER_POOL_SIZE`). ``None``:
                SQLAlchemy's default pool (5, and 10 more on demand, per store).
            init_options: More keyword arguments of ``ray.init`` (used only when this
                executor starts or joins the cluster).

        Raises:
            ConfigurationError: Ray is not installed, or a count is not positive.
        """
        _ray()
        pool_options(pool_size)  # checked here, not in every worker
        self.pool_size = pool_size
        self.address = address
        self.workers = None if workers is None else _check_count("workers", workers)
        self.concurrency = _check_count("concurrency", concurrency)
        if not cpus_per_worker > 0:
            raise ConfigurationError(f"cpus_per_worker must be positive, got {cpus_per_worker!r}")
        self.cpus_per_worker = cpus_per_worker
        self.init_options = dict(init_options or {})
        self.pids: list[int] = []
        """The worker processes' ids, once started (for tests and operators)."""

    def _connect(self) -> bool:
        """Initialise Ray if it is not; return whether this executor did."""
        ray = _ray()
        if ray.is_initialized():
            return False
        options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
        if self.address is None:
            options["_node_ip_address"] = "127.0.0.1"  # a cluster of our own: loopback only
        options.update(self.init_options)
        ray.init(address=self.address, **options)
        return True

    async def amap(
        self,
        job: Job[ItemT, ResultT],
        items: Sequence[ItemT],
        *,
        on_result: OnResult | None = None,
    ) -> list[ResultT]:
        """Run ``job`` on every item on the cluster (see `Executor.amap`).

        Raises:
            ConfigurationError: The job cannot be sent to the workers (an object that does
                not pickle: pass the model as a spec or a zero-argument factory).
        """
        ray = _ray()
        started = self._connect()
        actors: list[Any] = []
        try:
            try:
                job_ref = ray.put(job)
            except Exception as exc:  # cloudpickle raises many kinds: say what to do
                raise ConfigurationError(
                    f"the job cannot be sent to Ray workers ({type(exc).__name__}: {exc}); "
                    "pass the model as a spec string or a zero-argument factory, not an object"
                ) from exc
            count = self.workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
            count = min(count, max(1, len(items)))
            options = {
                "max_restarts": RESTARTS,
                "max_task_retries": RETRIES,
                "max_concurrency": self.concurrency,
                "num_cpus": self.cpus_per_worker,
            }
            actors = [
                _actor_class().options(**options).remote(job_ref, self.pool_size)
                for _ in range(count)
            ]
            self.pids = list(await asyncio.gather(*(a.pid.remote() for a in actors)))
            results: list[Any] = [None] * len(items)
            queue = iter(enumerate(items))

            async def feed(actor: Any) -> None:
                for index, item in queue:  # the feeders share one queue
                    results[index] = await actor.run.remote(item)
                    if on_result is not None:
                        on_result(index, results[index])

            feeders = [feed(actor) for actor in actors for _ in range(self.concurrency)]
            await gather_or_cancel(feeders)
            await asyncio.gather(*(a.close.remote() for a in actors), return_exceptions=True)
            return results
        finally:
            for actor in actors:
                ray.kill(actor, no_restart=True)
            if started:
                ray.shutdown()
