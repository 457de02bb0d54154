"""Sync and async alike: the one helper every sync twin and every node uses.

- `run_sync` runs a coroutine to completion from sync code: on this thread when no event loop
  is running here, else on a worker thread with a loop of its own (so ``ponder.solve()`` works
  in a Jupyter notebook, whose loop is already running).
- `dual_node` turns an async node into a LangGraph node that runs under ``invoke``/``stream``
  as well as ``ainvoke``/``astream``: the async function serves async runs, and its sync twin
  runs the same coroutine through `run_sync`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import functools
import inspect
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from langgraph._internal._runnable import RunnableCallable

__all__ = ("DualNode", "dual_node", "run_sync")

T = TypeVar("T")


def run_sync(coroutine: Coroutine[Any, Any, T], *, name: str = "run") -> T:
    """Run ``coroutine`` to completion and return its result, from any sync code.

    Args:
        coroutine: What to run.
        name: What runs, for the worker thread's name.

    Inside a running event loop the coroutine runs on a worker thread with its own loop, and
    this thread waits for it (context variables, such as LangGraph's, are carried over).
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    context = contextvars.copy_context()
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=f"ponder-{name}") as pool:
        return pool.submit(context.run, asyncio.run, coroutine).result()


class DualNode(RunnableCallable):
    """A LangGraph node with an async function and its sync twin (see `dual_node`).

    Calling it directly calls the async function: ``await node(state, runtime=runtime)``.
    """

    def __call__(self, state: Any, **injected: Any) -> Any:
        """Return the async function's coroutine for ``state``."""
        if self.afunc is None:  # dual_node always gives one
            raise TypeError(f"node {self.name!r} has no async function")
        return self.afunc(state, **injected)


def dual_node(function: Callable[..., Coroutine[Any, Any, Any]], *, name: str) -> DualNode:
    """Return ``function`` (an async node) as a LangGraph node that also runs sync.

    LangGraph injects ``runtime`` (and ``config``) by the parameters of the node's function,
    so the sync twin takes the same ones, by keyword. The node emits its progress events
    (`ponder.events.emitting`).
    """
    from ponder.events import emitting  # ponder.events needs the state types; _sync does not

    function = emitting(function, name=name)

    @functools.wraps(function)
    def sync(state: Any, **injected: Any) -> Any:
        return run_sync(function(state, **injected), name=name)

    sync.__signature__ = inspect.signature(function)  # type: ignore[attr-defined]
    return DualNode(sync, function, name=name, trace=False)
