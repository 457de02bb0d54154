"""The PostgreSQL fast path on the caller's event loop: hot calls with no thread hop.

Every database call of a `SqlCheckpointer` can run on the saver's private loop thread
(`ponder.persistence._loop`), which serves any loop and sync code with one pool, at the cost of
a hop there and back per call. On PostgreSQL that hop was about a third of a put (a put took
0.65 ms, of which 0.39 ms on the connection): the one cost left once a put was one statement
(`ponder.persistence._pg_fast`). asyncpg connections belong to the loop that opened them, so
this module keeps a second, small set of connections for one caller loop at a time, the
*home* loop: the first loop to make a hot call, and once that loop is closed, the next. On the
home loop a hot call runs where it is awaited, on one of these connections (a `PgFastPath`
over an engine of their own). On any other loop, in sync code, and when every one of them is
busy, it takes the saver's thread as before: nothing waits for a home connection.

The home loop's connections are a share of the saver's pool, not extra ones (`split_pool`):
the saver's engine gets that many fewer, first from its overflow, then from its size, so a
store never holds more than ``pool_size + max_overflow`` connections in all, and a capped pool
(``max_overflow=0``, `ponder.distributed`) keeps its cap; at least one connection always stays
with the saver's engine (the registry, leases, other loops). A pool of one, or a pool class of
the caller's own (``poolclass``), gets no home connections: every call takes the thread.

They are closed by the saver's ``aclose``, or when the home loop shuts down: ``asyncio.run``
(and ``asyncio.Runner``, as pytest-asyncio uses) finalizes the asynchronous generators of its
loop before closing it, and a generator parked on the home loop holds the connections, its
``finally`` closing them. A loop closed without that (a bare ``loop.close()``) leaves its
connections to the garbage collector.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from typing import Any

from langgraph.checkpoint.serde.base import SerializerProtocol
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine

from ponder.errors import CheckpointError
from ponder.persistence._engine import create_engine
from ponder.persistence._pg_fast import PgFastPath

__all__ = ("CallerLoopPath", "split_pool")

_POOL_SIZE = 5  # SQLAlchemy's defaults for a QueuePool
_MAX_OVERFLOW = 10
_CLOSE_SECONDS = 30.0  # how long sync `close` waits for another thread's loop to close them


def split_pool(options: Mapping[str, Any] | None) -> tuple[dict[str, Any], int]:
    """Share a pool between the saver's engine and the home loop's connections.

    Args:
        options: The caller's engine options (``pool_size``, ``max_overflow``, ...).

    Returns:
        The saver's engine options, and how many connections the home loop may hold: as many
        as the pool's size, but always one fewer than the pool's limit, taken from the
        overflow first. Options this cannot read (a ``poolclass``, sizes that are not whole
        numbers, which the engine will refuse) are returned as they are, with no home share.

    Example:
        >>> split_pool(None)
        ({'max_overflow': 5}, 5)
        >>> split_pool({"pool_size": 2, "max_overflow": 0})
        ({'pool_size': 1, 'max_overflow': 0}, 1)
        >>> split_pool({"pool_size": 1, "max_overflow": 0})
        ({'pool_size': 1, 'max_overflow': 0}, 0)
    """
    given = dict(options or {})
    size = given.get("pool_size", _POOL_SIZE)
    overflow = given.get("max_overflow", _MAX_OVERFLOW)
    readable = all(isinstance(n, int) and not isinstance(n, bool) for n in (size, overflow))
    if "poolclass" in given or "pool" in given or not readable or size < 1:
        return given, 0
    if overflow < 0:  # no limit: the home share costs the pool nothing
        return given, size
    share = max(0, min(size, size + overflow - 1))
    from_overflow = min(share, overflow)
    if from_overflow:
        given["max_overflow"] = overflow - from_overflow
    if share > from_overflow:
        given["pool_size"] = size - (share - from_overflow)
    return given, share


class _Home:
    """The home loop, its fast path and engine, and the generator that closes them."""

    def __init__(self, loop: asyncio.AbstractEventLoop, engine: AsyncEngine, path: PgFastPath):
        self.loop = loop
        self.engine = engine
        self.path = path
        self.closed = False
        self.keeper = self._keep()

    async def _keep(self) -> AsyncGenerator[None, None]:
        try:
            yield
        finally:
            await self.close()

    async def close(self) -> None:
        """Close the connections (on the home loop)."""
        self.closed = True
        try:
            await self.path.close()
        finally:
            await self.engine.dispose()


class CallerLoopPath:
    """Hot calls on the home loop's own connections; see the module's docstring.

    Args:
        url: The store's URL.
        options: The caller's engine options (the home loop's engine gets them too, but for
            its pool's size).
        schema: The schema holding the tables, or ``None``.
        serde: The serializer.
        slots: How many connections the home loop may hold (`split_pool`); 0 disables it.
        setup: Checks and sets up the store (on the saver's loop); awaited before each call.
        error: Makes the `CheckpointError` for a failed action.
    """

    def __init__(
        self,
        url: URL,
        options: Mapping[str, Any] | None,
        schema: str | None,
        serde: SerializerProtocol,
        *,
        slots: int,
        setup: Callable[[], Awaitable[None]],
        error: Callable[[str, Exception], CheckpointError],
    ) -> None:
        self._url = url
        self._options = {
            **{k: v for k, v in (options or {}).items() if k not in ("pool_size", "max_overflow")},
            "pool_size": max(1, slots),
            "max_overflow": 0,
        }
        self._schema = schema
        self._serde = serde
        self._slots = slots
        self._setup = setup
        self._error = error
        self._guard = threading.Lock()  # callers on loops of other threads
        self._home: _Home | None = None
        self._closed = False

    @property
    def home(self) -> asyncio.AbstractEventLoop | None:
        """The home loop, if one is bound."""
        home = self._home
        return None if home is None else home.loop

    @property
    def path(self) -> PgFastPath | None:
        """The home loop's fast path, if one is bound."""
        home = self._home
        return None if home is None else home.path

    def take(self) -> PgFastPath | None:
        """The home fast path for a call on the running loop, or ``None``.

        ``None``: take the saver's thread, or `bind` this loop first when it is `bindable`.
        The call must start at once (no ``await`` between): a free connection is one not
        held by a call in flight (`PgFastPath.in_flight`).
        """
        home = self._home
        if home is None or home.closed or home.loop is not asyncio.get_running_loop():
            return None
        return home.path if home.path.in_flight < self._slots else None

    def bindable(self) -> bool:
        """Whether the running loop may become the home loop: none is bound, or it closed."""
        if self._slots == 0 or self._closed:
            return False
        home = self._home
        return home is None or home.loop.is_closed()

    async def bind(self) -> PgFastPath | None:
        """Make the running loop the home loop (`bindable`); its fast path, or ``None``."""
        home = await self._bind(asyncio.get_running_loop())
        return None if home is None or home.closed else home.path

    async def _bind(self, loop: asyncio.AbstractEventLoop) -> _Home | None:
        """Make ``loop`` the home loop, unless a live other one is; then the home, or ``None``."""
        with self._guard:
            current = self._home
            if current is not None and current.loop is loop:
                return current
            if self._closed or (current is not None and not current.loop.is_closed()):
                return None  # another loop, still open, is home

            # The previous home loop is closed: its connections went with its shutdown (or
            # to the garbage collector). This loop is the home now.
            engine = create_engine(
                self._url, schema=None, options=self._options, wal_allowed=lambda: False
            )
            path = PgFastPath(
                engine,
                self._schema,
                self._serde,
                setup=self._setup,
                error=self._error,
                keep=self._slots,
            )
            home = self._home = _Home(loop, engine, path)
        await home.keeper.asend(None)  # parked on this loop until it shuts down, or `close`
        return home

    async def close(self) -> None:
        """Close the home loop's connections; no loop becomes home again."""
        with self._guard:
            self._closed = True
            home, self._home = self._home, None
        if home is None:
            return
        if home.loop is asyncio.get_running_loop():
            await home.keeper.aclose()
        elif home.loop.is_running():  # another thread's loop: close them there
            with contextlib.suppress(RuntimeError):  # it closed meanwhile
                done = asyncio.run_coroutine_threadsafe(home.keeper.aclose(), home.loop)
                await asyncio.wrap_future(done)
        # Else the loop is closed (its connections went with it) or idle: they are closed
        # when it shuts down, or by the garbage collector.

    def close_blocking(self) -> None:
        """`close` from sync code (no running loop here)."""
        with self._guard:
            self._closed = True
            home, self._home = self._home, None
        if home is not None and home.loop.is_running():
            with contextlib.suppress(RuntimeError, concurrent.futures.TimeoutError):
                done = asyncio.run_coroutine_threadsafe(home.keeper.aclose(), home.loop)
                done.result(timeout=_CLOSE_SECONDS)
