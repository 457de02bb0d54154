"""The one helper every sync wrapper uses to run its async twin."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from ponder.errors import ConfigurationError

__all__ = ("run_sync",)

T = TypeVar("T")


def run_sync(coroutine: Coroutine[Any, Any, T], *, name: str) -> T:
    """Run ``coroutine`` to completion; refuse inside a running event loop.

    Raises:
        ConfigurationError: Called from async code, where ``await a<name>(...)`` is right.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    coroutine.close()
    raise ConfigurationError(
        f"ponder.{name}() cannot run inside an event loop; use `await ponder.a{name}(...)`"
    )
