"""`make_executor`: an executor by its name (what ``ponder bench --executor`` takes).

Example:
    >>> make_executor("local", concurrency=2).concurrency
    2
"""

from __future__ import annotations

from ponder.distributed.durable import WORKER_POOL_SIZE
from ponder.distributed.executor import Executor, ExecutorName, LocalExecutor
from ponder.distributed.ray_executor import RayExecutor
from ponder.errors import ConfigurationError

__all__ = ("make_executor",)


def make_executor(
    executor: ExecutorName | Executor,
    *,
    concurrency: int = 1,
    address: str | None = None,
    workers: int | None = None,
    pool_size: int | None = WORKER_POOL_SIZE,
) -> Executor:
    """Return the executor named ``executor`` (an `Executor` is returned as it is).

    Args:
        executor: ``"local"`` or ``"ray"``, or an executor.
        concurrency: Items in flight at once in each worker.
        address: The Ray cluster's address (``ray``; a local cluster when ``None``).
        workers: Ray workers (``ray``; one per CPU of the cluster when ``None``).
        pool_size: Database connections each Ray worker's run store holds at most
            (``ray``; `RayExecutor`); ``None``: SQLAlchemy's default pool.

    Raises:
        ConfigurationError: An unknown name, a bad count, Ray options for the local
            executor, or ``ray`` without the ``ray`` extra installed.
    """
    if isinstance(executor, Executor):
        return executor
    if executor == "local":
        if address is not None or workers is not None:
            raise ConfigurationError(
                "--address and --workers are for the Ray executor: add --executor ray"
            )
        return LocalExecutor(concurrency=concurrency)
    if executor == "ray":
        return RayExecutor(
            address=address, workers=workers, concurrency=concurrency, pool_size=pool_size
        )
    raise ConfigurationError(f"executor must be 'local' or 'ray', got {executor!r}")
