"""``ponder show --serve``: the run viewer over HTTP on a loopback address, following a live run.

A small asyncio HTTP/1.1 server (no web framework) with two routes:

- ``/``: the viewer page (`ponder.viz.render_html`), told to poll ``run.json``;
- ``/run.json``: the run's current `RunView`, with an ``ETag`` that changes when the run
  gets a new checkpoint or its record changes; a poll that sends the same tag back gets
  ``304 Not Modified`` without the view being rebuilt.

It binds loopback addresses only (127.0.0.1 by default) and answers only requests whose
``Host`` header names a loopback host, so a web page elsewhere cannot reach it through DNS
rebinding. Only ``GET`` and ``HEAD`` are served.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
from collections.abc import Callable
from types import TracebackType
from typing import cast
from urllib.parse import urlsplit

from langchain_core.runnables import RunnableConfig

from ponder._sync import run_sync
from ponder.api import DEFAULT_DB
from ponder.errors import ConfigurationError
from ponder.setup import check_state
from ponder.stores import Db, RunStore
from ponder.viz.html import render_html
from ponder.viz.viewer import RunView, build_view

__all__ = ("ViewerServer", "aserve", "check_loopback", "serve")

_LOOPBACK_NAMES = ("localhost",)
_MAX_REQUEST = 16 * 1024
_REASONS = {
    200: "OK",
    304: "Not Modified",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    500: "Internal Server Error",
}


def check_loopback(host: str) -> str:
    """Return ``host`` if it is a loopback address (or ``localhost``).

    Raises:
        ConfigurationError: It is not: the viewer is never served beyond this machine.

    Example:
        >>> check_loopback("0.0.0.0")
        Traceback (most recent call last):
        ...
        ponder.errors.ConfigurationError: the viewer serves on a loopback address only \
(127.0.0.1, ::1 or localhost), not '0.0.0.0'
    """
    if host in _LOOPBACK_NAMES:
        return host
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ConfigurationError(
            "the viewer serves on a loopback address only (127.0.0.1, ::1 or localhost), "
            f"not {host!r}"
        )
    return host


def _host_allowed(header: str | None) -> bool:
    if not header:
        return False
    name = urlsplit(f"//{header}").hostname or ""
    try:
        return name in _LOOPBACK_NAMES or ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class ViewerServer:
    """Serves one run's viewer on a loopback address; an async context manager.

    Example:
        >>> async def main() -> None:  # doctest: +SKIP
        ...     async with ViewerServer("3f2a9c1d", db="sqlite+aiosqlite:///ponder.db") as server:
        ...         print(server.url)
        ...         await server.serve_forever()
    """

    def __init__(
        self,
        run_id: str,
        *,
        db: Db = DEFAULT_DB,
        host: str = "127.0.0.1",
        port: int = 0,
        poll_ms: int = 1000,
    ) -> None:
        if not 0 <= port <= 65535:
            raise ConfigurationError(f"port must be in 0..65535, got {port}")
        self.run_id = run_id
        """The run shown."""
        self.db = db
        """Where it is kept: a database URL, a LangGraph saver URL or a saver object."""
        self.host = check_loopback(host)
        """The loopback address bound."""
        self.port = port
        """The port bound (the one the system chose, once started with port 0)."""
        self.poll_ms = poll_ms
        """Milliseconds between the page's polls."""
        self._store: RunStore | None = None
        self._opened = contextlib.AsyncExitStack()
        self._server: asyncio.Server | None = None
        self._cached: tuple[str, bytes] | None = None
        self._lock = asyncio.Lock()

    @property
    def url(self) -> str:
        """The viewer's address."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    async def __aenter__(self) -> ViewerServer:
        from ponder.runs import open_store

        try:
            self._store = await self._opened.enter_async_context(open_store(self.db))
            if await self._store.aget_run(self.run_id) is None:
                raise ConfigurationError(
                    f"no run {self.run_id!r} here; `ponder runs` lists the runs"
                )
            try:
                self._server = await asyncio.start_server(
                    self._handle, self.host, self.port, limit=_MAX_REQUEST
                )
            except OSError as exc:  # the port is taken, or the address is not this machine's
                raise ConfigurationError(
                    f"cannot serve on {self.host} port {self.port}: {exc.strerror or exc}; "
                    "pick another port (--port 0 takes any free one)"
                ) from exc
        except BaseException:
            self._store = None
            await self._opened.aclose()
            raise
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop serving and close the store."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        if self._store is not None:
            self._store = None
            await self._opened.aclose()

    async def serve_forever(self) -> None:
        """Serve until cancelled."""
        if self._server is None:
            raise ConfigurationError("start the server first: `async with ViewerServer(...)`")
        await self._server.serve_forever()

    async def view_json(self) -> tuple[str, bytes]:
        """Return the run's view as JSON and its tag, rebuilt only when the run changed."""
        store = self._store
        if store is None:
            raise ConfigurationError("start the server first: `async with ViewerServer(...)`")
        async with self._lock:
            record = await store.aget_run(self.run_id)
            if record is None:
                raise ConfigurationError(f"run {self.run_id!r} was removed")
            config: RunnableConfig = {"configurable": {"thread_id": self.run_id}}
            latest = [item.checkpoint["id"] async for item in store.saver.alist(config, limit=1)]
            tag = f'"{latest[0] if latest else "-"}.{record["updated_at"]!r}.{record["status"]}"'
            if self._cached is None or self._cached[0] != tag:
                checkpoints = await store.acheckpoints(record)
                for item in checkpoints:
                    check_state(item.checkpoint["channel_values"], f"run {self.run_id!r}")
                view = build_view(record, checkpoints)
                self._cached = (tag, json.dumps(view, ensure_ascii=False).encode("utf-8"))
            return self._cached

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = b""
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=10)
            status, headers, body = await self._respond(head)
        except (
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            asyncio.TimeoutError,
            TimeoutError,
        ):
            status, headers, body = 400, {}, b"bad request\n"
        except ConfigurationError as exc:
            status, headers, body = 404, {}, f"{exc}\n".encode()
        except ConnectionError:
            writer.close()
            return
        except Exception as exc:  # a locked or damaged store: answer, never leave it hanging
            status, headers, body = 500, {}, f"{type(exc).__name__}: {exc}\n".encode()
        headers.setdefault("Content-Type", "text/plain; charset=utf-8")
        lines = [f"HTTP/1.1 {status} {_REASONS[status]}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        lines += [
            f"Content-Length: {len(body)}",
            "Cache-Control: no-store",
            "X-Content-Type-Options: nosniff",
            "Connection: close",
        ]
        try:
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
            if not head.startswith(b"HEAD "):  # a HEAD response has no body
                writer.write(body)
            await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def _respond(self, head: bytes) -> tuple[int, dict[str, str], bytes]:
        request, *header_lines = head.decode("latin-1").split("\r\n")
        parts = request.split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            return 400, {}, b"bad request\n"
        method, target, _ = parts
        fields: dict[str, str] = {}
        for line in header_lines:
            name, sep, value = line.partition(":")
            if sep:
                fields[name.strip().lower()] = value.strip()
        if method not in ("GET", "HEAD"):
            return 405, {"Allow": "GET, HEAD"}, b"only GET and HEAD\n"
        if not _host_allowed(fields.get("host")):
            return 403, {}, b"this server answers requests for a loopback host only\n"
        path = urlsplit(target).path
        if path == "/run.json":
            tag, body = await self.view_json()
            if fields.get("if-none-match") == tag:
                return 304, {"ETag": tag}, b""
            return 200, {"ETag": tag, "Content-Type": "application/json"}, body
        if path in ("/", "/index.html"):
            _, body = await self.view_json()
            page = render_html(
                cast(RunView, json.loads(body)), poll="run.json", poll_ms=self.poll_ms
            )
            return 200, {"Content-Type": "text/html; charset=utf-8"}, page.encode("utf-8")
        return 404, {}, b"not found\n"


async def aserve(
    run_id: str,
    *,
    db: Db = DEFAULT_DB,
    host: str = "127.0.0.1",
    port: int = 8765,
    poll_ms: int = 1000,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve run ``run_id``'s viewer until cancelled; ``on_ready`` gets the URL once bound.

    Raises:
        ConfigurationError: No such run, a non-loopback ``host``, or a bad port.
    """
    async with ViewerServer(run_id, db=db, host=host, port=port, poll_ms=poll_ms) as server:
        if on_ready is not None:
            on_ready(server.url)
        await server.serve_forever()


def serve(
    run_id: str,
    *,
    db: Db = DEFAULT_DB,
    host: str = "127.0.0.1",
    port: int = 8765,
    poll_ms: int = 1000,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Sync twin of `aserve`."""
    run_sync(
        aserve(run_id, db=db, host=host, port=port, poll_ms=poll_ms, on_ready=on_ready),
        name="serve",
    )
