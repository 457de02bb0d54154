"""A private event loop in a daemon thread: the only loop that ever touches a saver's engine.

Why a thread of its own: an async database connection belongs to the event loop that opened it
(asyncpg connections and aiosqlite's futures both do). A checkpointer, though, outlives loops:
``ponder.solve()`` runs each call in a fresh ``asyncio.run`` loop, pytest gives each test its
own, and LangGraph's sync ``graph.invoke`` has no loop at all. Pooled connections handed from
one loop to the next break in obscure ways, and ``asyncio.run`` per call would have to open a
connection per call. Running every database coroutine on one long-lived loop makes all of these
work with one pool, at the cost of a thread hop (tens of microseconds) per call. On PostgreSQL
the hot calls of one caller loop at a time skip the hop (`ponder.persistence._pg_caller`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from ponder.errors import CheckpointError, ConfigurationError

__all__ = ("LoopThread", "refuse_in_running_loop")

T = TypeVar("T")


def refuse_in_running_loop(name: str) -> None:
    """Raise `ConfigurationError` when called where an event loop is running.

    A blocking call there would stall every task of that loop (or deadlock it), so sync
    wrappers refuse, as LangGraph's ``AsyncSqliteSaver`` does, and name the async twin.

    Args:
        name: The sync method being called (``"get_tuple"``).
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise ConfigurationError(
        f"SqlCheckpointer.{name}() blocks, so it cannot run inside an event loop; "
        f"use `await saver.a{name}(...)` (or the graph's async API, e.g. `await graph.ainvoke`)"
    )


class LoopThread:
    """An event loop running in a daemon thread, started on first use.

    Example:
        >>> async def answer() -> int:
        ...     return 42
        >>> runner = LoopThread("example")
        >>> runner.call(answer())
        42
        >>> runner.stop()
    """

    def __init__(self, name: str) -> None:
        self._name = name
        self._guard = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopped = False

    @property
    def started(self) -> bool:
        """Whether the thread has been started (and not stopped)."""
        return self._loop is not None and not self._stopped

    def submit(self, coroutine: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule ``coroutine`` on the loop; return a thread-safe future of its result.

        Raises:
            CheckpointError: The loop was stopped (the saver was closed).
        """
        with self._guard:
            if self._stopped:
                coroutine.close()
                raise CheckpointError(
                    "this SqlCheckpointer is closed; open a new one with SqlCheckpointer.from_url"
                )
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                self._thread = threading.Thread(
                    target=self._run, args=(self._loop,), name=self._name, daemon=True
                )
                self._thread.start()
            return asyncio.run_coroutine_threadsafe(coroutine, self._loop)

    async def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the loop and await its result from any other loop.

        Cancelling the awaiting task cancels the coroutine too.
        """
        if self._loop is not None and asyncio.get_running_loop() is self._loop:
            return await coroutine
        return await asyncio.wrap_future(self.submit(coroutine))

    def call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the loop and block this thread until it is done."""
        return self.submit(coroutine).result()

    def stop(self) -> None:
        """Stop the loop and wait for its thread (unless called from that thread)."""
        with self._guard:
            if self._stopped:
                return
            self._stopped = True
            loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        if threading.current_thread() is not thread:
            thread.join()

    @staticmethod
    def _run(loop: asyncio.AbstractEventLoop) -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()
