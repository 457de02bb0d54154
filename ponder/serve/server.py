"""Running the application: `serve` (what ``ponder serve`` calls) and `BackgroundServer`.

Both run uvicorn on one event loop: every request's run, and the embedded model's batched
decoder they share, live in one process. A host that is not a loopback address is served
only after a warning (anyone who can reach it can spend the model's time, and read every
run's answer by its id, unless an API key is set).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Sequence
from types import TracebackType

import uvicorn
from langchain_core.language_models import BaseChatModel

from ponder.api import DEFAULT_DB
from ponder.errors import ConfigurationError
from ponder.serve.app import create_app
from ponder.serve.auth import ASGIApp, is_loopback

__all__ = ("GRACE_SECONDS", "BackgroundServer", "serve")

logger = logging.getLogger(__name__)

GRACE_SECONDS = 5.0
"""At shutdown, seconds the runs in flight get to finish before they are cancelled (and left
``interrupted``, to be resumed)."""


def _check_port(port: int) -> None:
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ConfigurationError(f"the port must be a number from 0 to 65535, got {port!r}")


def _warn_if_exposed(host: str, api_key: str | None) -> bool:
    """Warn about a non-loopback host; return whether the host is loopback."""
    if is_loopback(host):
        return True
    logger.warning(
        "serving on %s, not a loopback address: anyone who can reach it can use the model%s",
        host, "" if api_key else " (no API key is set: pass --api-key-env NAME)",
    )  # fmt: skip
    return False


def _uvicorn_server(app: ASGIApp, host: str, port: int) -> uvicorn.Server:
    config = uvicorn.Config(
        app, host=host, port=port, log_level="warning", lifespan="off",
        timeout_graceful_shutdown=int(GRACE_SECONDS), access_log=False,
    )  # fmt: skip
    return uvicorn.Server(config)


def serve(
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    model: BaseChatModel | str | None = None,
    db: str = DEFAULT_DB,
    api_key: str | None = None,
    allow_models: Sequence[str] = (),
    reproducible: bool = False,
) -> None:
    """Serve ponder's strategies over OpenAI's chat-completion API until interrupted.

    Args:
        host: The address to bind (loopback by default; another one is warned about).
        port: The port.
        model: The server's model (see `ponder.serve.create_app`).
        db: Where runs are kept.
        api_key: The bearer token requests must carry (``None``: none needed).
        allow_models: Other model specs a request may name after the strategy.
        reproducible: Decode each run's steps alone (slower when requests overlap).

    Raises:
        ConfigurationError: A bad port or model.
    """
    _check_port(port)
    loopback = _warn_if_exposed(host, api_key)
    app = create_app(
        model, db=db, api_key=api_key, allow_models=allow_models, loopback_only=loopback,
        reproducible=reproducible, warm=True,
    )  # fmt: skip
    _uvicorn_server(app, host, port).run()


class BackgroundServer:
    """`ponder serve` on a thread of this process, for tests and benchmarks.

    Binds a free port when ``port`` is 0; `url` is the OpenAI base URL (``.../v1``).

    Example:
        >>> from ponder.testing import ScriptedChatModel
        >>> model = ScriptedChatModel(replies=["The answer is 4."])
        >>> db = "sqlite+aiosqlite:///runs.db"
        >>> with BackgroundServer(model=model, db=db) as server:  # doctest: +SKIP
        ...     print(server.url)
        http://127.0.0.1:...
    """

    def __init__(
        self,
        *,
        model: BaseChatModel | str | None = None,
        db: str = DEFAULT_DB,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
        allow_models: Sequence[str] = (),
        reproducible: bool = False,
    ) -> None:
        _check_port(port)
        loopback = _warn_if_exposed(host, api_key)
        self.app = create_app(
            model, db=db, api_key=api_key, allow_models=allow_models,
            loopback_only=loopback, reproducible=reproducible,
        )  # fmt: skip
        """The application served."""
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._socket = socket.socket(family, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))
        self.host = host
        """The address bound."""
        self.port: int = self._socket.getsockname()[1]
        """The port bound."""
        self._server = _uvicorn_server(self.app, host, self.port)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The OpenAI base URL of the server (``http://host:port/v1``)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/v1"

    def start(self, timeout: float = 30.0) -> BackgroundServer:
        """Start serving; return once the server listens.

        Raises:
            RuntimeError: It did not start within ``timeout`` seconds.
        """
        server = self._server
        self._thread = threading.Thread(
            target=server.run,
            kwargs={"sockets": [self._socket]},
            name="ponder-serve",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("ponder serve did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Stop serving (runs in flight get `GRACE_SECONDS`), and close the socket."""
        if self._thread is not None:
            self._server.should_exit = True
            self._thread.join()
            self._thread = None
        self._socket.close()

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
