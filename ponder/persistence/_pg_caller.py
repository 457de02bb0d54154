"""The PostgreSQL fast path on the caller's event loop: hot calls with no thread hop.

Every database call of a `SqlCheckpointer` can run on the saver's private loop thread
(`ponder.persistence._loop`), which serves any loop and sync code with one pool, at the cost of
a hop there and back per call: about a third of a put, once a put was one statement
(`ponder.persistence._pg_fast`). asyncpg connections belong to the loop that opened them, so
this module keeps a second, small set of connections for one caller loop at a time, the
*home* loop. On the home loop a hot call runs where it is awaited, on one of these connections
(a `PgFastPath` over an engine of their own). On any other loop, in sync code, and when every
one of them is busy, it takes the saver's thread as before: nothing waits for a home
connection.

Which loop is home: the first to make `BIND_AFTER` hot calls while no other is (a loop that
makes a handful, such as one ``asyncio.run`` per call, would pay more to connect than the hop
costs it); once the home loop has shut down, the next to do so.

The home loop's connections come out of the pool's overflow (`split_pool`): the saver's
engine keeps its ``pool_size`` and gets that many fewer extra connections, so a store never
holds more than ``pool_size + max_overflow`` connections in all. A pool without overflow
(``max_overflow=0``, as `ponder.distributed` caps a worker's), or a pool class of the caller's
own (``poolclass``), gets no home connections: every call takes the thread, as before.

They are closed by the saver's ``aclose``, or when the home loop shuts down: ``asyncio.run``
(and ``asyncio.Runner``, as pytest-asyncio uses) finalizes the asynchronous generators of its
loop before closing it, and a generator parked on the home loop closes them in its
``finally`` (a saver closed from another thread while its home loop is idle leaves them to
that shutdown). A loop closed without that (a bare ``loop.close()``) cannot close them any
more, nor can they be ended safely from elsewhere: they are detached from their pool and left
to the garbage collector, which closes their sockets, and that saver makes no loop home again
(every later call takes the thread), so its connections never exceed the pool's limit. Until
they are collected they stay open.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
import weakref
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from typing import Any

from langgraph.checkpoint.serde.base import SerializerProtocol
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine

from ponder.errors import CheckpointError
from ponder.persistence._engine import create_engine
from ponder.persistence._pg_fast import PgFastPath

__all__ = ("BIND_AFTER", "CallerLoopPath", "split_pool")

BIND_AFTER = 32
"""Hot calls a loop makes before it becomes the home loop: the hop saves about 0.25 ms a call,
opening a connection costs a few ms."""

_POOL_SIZE = 5  # SQLAlchemy's defaults for a QueuePool
_MAX_OVERFLOW = 10
_CLOSE_SECONDS = 30.0  # how long closing waits for another thread's home loop


def split_pool(options: Mapping[str, Any] | None) -> tuple[dict[str, Any], int]:
    """Share a pool between the saver's engine and the home loop's connections.

    Args:
        options: The caller's engine options (``pool_size``, ``max_overflow``, ...).

    Returns:
        The saver's engine options, and how many connections the home loop may hold: as many
        as the pool's size, taken from its overflow (never from its size). Options this
        cannot read (a ``poolclass``, sizes that are not whole numbers, which the engine
        will refuse) are returned as they are, with no home share.

    Example:
        >>> split_pool(None)
        ({'max_overflow': 5}, 5)
        >>> split_pool({"pool_size": 2, "max_overflow": 0})
        ({'pool_size': 2, 'max_overflow': 0}, 0)
        >>> split_pool({"pool_size": 4, "max_overflow": 2})
        ({'pool_size': 4, 'max_overflow': 0}, 2)
    """
    given = dict(options or {})
    size = given.get("pool_size", _POOL_SIZE)
    overflow = given.get("max_overflow", _MAX_OVERFLOW)
    readable = all(isinstance(n, int) and not isinstance(n, bool) for n in (size, overflow))
    if "poolclass" in given or "pool" in given or not readable or size < 1:
        return given, 0
    if overflow < 0:  # no limit: the home share costs the pool nothing
        return given, size
    share = min(size, overflow)
    if share:
        given["max_overflow"] = overflow - share
    return given, share


class _Connections:
    """The home loop's engine and fast path, closed once however many ask."""

    def __init__(self, engine: AsyncEngine, path: PgFastPath) -> None:
        self.engine = engine
        self.path = path
        self._closing: asyncio.Future[None] | None = None

    async def close(self) -> None:
        """Close them (on the home loop); later calls wait for the first."""
        if self._closing is None:
            self._closing = asyncio.ensure_future(self._close())
        await asyncio.shield(self._closing)

    async def _close(self) -> None:
        try:
            await self.path.close()
        finally:
            await self.engine.dispose()


async def _parked(connections: _Connections) -> AsyncGenerator[None]:
    """Wait on the home loop; closed by its shutdown (or the saver), close the connections."""
    try:
        yield
    finally:
        await connections.close()


_LIVE: set[_Home] = set()
"""The homes not yet shut: held here, not only by their saver, so that a parked generator
stays known to its loop until that loop shuts down and closes it, even when its saver was
closed from another thread (while the loop was idle) or dropped meanwhile."""
_LIVE_GUARD = threading.Lock()


class _Home:
    """The home loop, its connections, and the generator parked on it."""

    def __init__(self, loop: asyncio.AbstractEventLoop, connections: _Connections) -> None:
        self.loop = loop
        self.connections = connections
        self.path = connections.path
        self.keeper = _parked(connections)
        self.abandoned = False  # given up: its loop closed with its connections open
        with _LIVE_GUARD:
            _LIVE.add(self)

    @property
    def closed(self) -> bool:
        """Whether its connections are closed (or closing, or given up)."""
        return self.path.closed

    async def shut(self) -> None:
        """Close the connections and the parked generator (on the home loop)."""
        try:
            await self.connections.close()
        finally:
            self.release()
            with contextlib.suppress(RuntimeError):  # the loop's shutdown is closing it now
                await self.keeper.aclose()

    def give_up(self) -> None:
        """Let go of connections whose loop is closed (see the module's docstring)."""
        self.abandoned = True
        self.release()
        self.path.abandon()

    def release(self) -> None:
        """Forget it here."""
        with _LIVE_GUARD:
            _LIVE.discard(self)


def _prune(spare: _Home | None = None) -> None:
    """Forget the homes (but ``spare``) whose loop is closed, so that they can be collected."""
    with _LIVE_GUARD:
        gone = [home for home in _LIVE if home is not spare and home.loop.is_closed()]
    for home in gone:
        _forget(home)


def _forget(home: _Home) -> None:
    """Forget a home whose loop is closed, giving its connections up unless it closed them."""
    if not home.closed:
        home.give_up()
    home.release()


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
        self._calls: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, int] = (
            weakref.WeakKeyDictionary()
        )
        self._closed = False
        self._orphaned = False  # a home loop closed bare: no loop becomes home again

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

        ``None``: take the saver's thread, after `bind` when it returns a path.
        The call must start at once (no ``await`` between): a free connection is one not
        held by a call in flight (`PgFastPath.in_flight`).
        """
        home = self._home
        if home is None or home.closed or home.loop is not asyncio.get_running_loop():
            return None
        return home.path if home.path.in_flight < self._slots else None

    async def bind(self) -> PgFastPath | None:
        """Count a hot call of the running loop; make it home at its `BIND_AFTER`-th.

        Returns:
            The home fast path, if the running loop is home now, or ``None``.
        """
        if self._slots == 0 or self._closed or self._orphaned:
            return None
        loop = asyncio.get_running_loop()
        with self._guard:
            current = self._home
            if current is not None and not current.loop.is_closed():
                return None  # a live loop is home (this one, busy or closing, or another)
            if current is not None and (current.abandoned or not current.closed):
                # Its loop closed with its connections open: they count until collected.
                _forget(current)
                self._orphaned, self._home = True, None
                return None
            calls = self._calls[loop] = self._calls.get(loop, 0) + 1
            if calls < BIND_AFTER:
                return None
            if current is not None:
                current.release()  # closed by its loop's shutdown
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
            home = self._home = _Home(loop, _Connections(engine, path))
            self._calls.clear()
        _prune(spare=home)
        await home.keeper.asend(None)  # parked on this loop until it shuts down
        return home.path

    async def close(self) -> None:
        """Close the home loop's connections; no loop becomes home again."""
        home = self._stop()
        if home is None:
            return
        if home.loop.is_closed():
            _forget(home)
        elif home.loop is asyncio.get_running_loop():
            await home.shut()
        elif home.loop.is_running():  # another thread's: close them there
            with contextlib.suppress(RuntimeError):  # the home loop closed meanwhile
                done = asyncio.run_coroutine_threadsafe(home.shut(), home.loop)
                with contextlib.suppress(asyncio.TimeoutError, concurrent.futures.TimeoutError):
                    await asyncio.wait_for(asyncio.wrap_future(done), _CLOSE_SECONDS)
            if home.loop.is_closed():
                _forget(home)
        # Else that loop is idle: its shutdown closes them (`_LIVE` keeps them known).

    def close_blocking(self) -> None:
        """`close` from sync code (no running loop here)."""
        home = self._stop()
        if home is None:
            return
        if home.loop.is_running():
            with contextlib.suppress(RuntimeError, concurrent.futures.TimeoutError):
                done = asyncio.run_coroutine_threadsafe(home.shut(), home.loop)
                done.result(timeout=_CLOSE_SECONDS)
        if home.loop.is_closed():
            _forget(home)

    def _stop(self) -> _Home | None:
        with self._guard:
            self._closed = True
            home, self._home = self._home, None
            self._calls.clear()
        _prune(spare=home)
        return home
