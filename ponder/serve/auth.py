"""Who may talk to `ponder serve`: the API key, and the loopback ``Host`` check.

`Guard` wraps the application (a plain ASGI middleware, so streaming and disconnects pass
through untouched) and refuses, before anything is read or run:

- a request without ``Authorization: Bearer <key>`` naming the configured key, when one is
  (401; compared in constant time with `hmac.compare_digest`);
- on a server bound to a loopback address, a request whose ``Host`` header names another
  host (403): a web page elsewhere cannot reach the server through DNS rebinding.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

from ponder.serve.api_errors import ApiError

__all__ = ("Guard", "is_loopback", "loopback_host")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or ``localhost``) is this machine only.

    Example:
        >>> is_loopback("127.0.0.1"), is_loopback("::1"), is_loopback("0.0.0.0")
        (True, True, False)
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def loopback_host(header: str | None) -> bool:
    """Whether a ``Host`` header names a loopback host (any port)."""
    if not header:
        return False
    name = urlsplit(f"//{header}").hostname or ""
    return is_loopback(name)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


class Guard:
    """The ASGI middleware that checks the API key and the ``Host`` of every request.

    Example:
        >>> from starlette.applications import Starlette
        >>> app = Guard(Starlette(), api_key="sk-local", loopback_only=True)
    """

    def __init__(self, app: ASGIApp, *, api_key: str | None, loopback_only: bool) -> None:
        self.app = app
        """The application guarded."""
        self._key = None if api_key is None else api_key.encode("utf-8")
        self.loopback_only = loopback_only
        """Refuse requests whose ``Host`` is not a loopback host."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer an HTTP request that fails a check; pass everything else on."""
        if scope["type"] == "http":
            refusal = self._refusal(scope)
            if refusal is not None:
                await _answer(send, refusal)
                return
        await self.app(scope, receive, send)

    def _refusal(self, scope: Scope) -> ApiError | None:
        if self.loopback_only and not loopback_host(_header(scope, b"host")):
            return ApiError(
                403, "this server answers requests for a loopback host only",
                code="host_not_allowed",
            )  # fmt: skip
        if self._key is None:
            return None
        given = _header(scope, b"authorization") or ""
        scheme, _, token = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            token.strip().encode("utf-8"), self._key
        ):
            return ApiError(
                401, "missing or wrong API key: send Authorization: Bearer <key>",
                type="authentication_error", code="invalid_api_key",
            )  # fmt: skip
        return None


async def _answer(send: Send, error: ApiError) -> None:
    body = error.body()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    if error.status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="ponder"'))
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
