"""Running a user's sync code (verifiers, rewards) off the event loop, abandonable on timeout."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ("in_daemon_thread",)

T = TypeVar("T")


async def in_daemon_thread(function: Callable[..., T], *args: Any) -> T:
    """Run ``function(*args)`` in a daemon thread and await its result.

    Unlike `asyncio.to_thread`, a call that never returns does not hold up the event loop's
    shutdown or the interpreter's exit: when the caller stops waiting (a timeout), the thread
    is simply abandoned.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def deliver(outcome: Callable[[], None]) -> None:
        if not future.done():
            outcome()

    def work() -> None:
        try:
            result = function(*args)
        except BaseException as exc:  # handed to the awaiting task, which decides
            error = exc
            with contextlib.suppress(RuntimeError):  # the loop may be closed by now
                loop.call_soon_threadsafe(deliver, lambda: future.set_exception(error))
        else:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(deliver, lambda: future.set_result(result))

    threading.Thread(target=work, name="ponder-user-code", daemon=True).start()
    return await future
