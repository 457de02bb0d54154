"""What a failed model call is charged: only what it can have spent.

A call that raised is placed by its exception (and the exceptions it was raised from):

- **Nothing sent**: the client refused the call's arguments (a ``TypeError`` about an
  argument, such as an invoke keyword the model does not take), or no connection could be
  made (refused, no such host, or a connect timeout: ``httpx.ConnectError``,
  ``httpx.ConnectTimeout``, ``ConnectionRefusedError``, ``socket.gaierror``, also when a
  client wraps them, as ``openai.APIConnectionError`` and ollama's ``ConnectionError`` do).
  No server saw the prompt: no tokens are charged (the call still counts as a call).
- **The server answered with an error** (an HTTP status: the exception has an integer
  ``status_code``, or is ``httpx.HTTPStatusError``): it may have read the prompt but
  generated no reply; the prompt is charged, no output.
- **Anything else** (the connection broke mid-reply, a read timed out, a reply that could not
  be parsed, a model's own exception): the server may have generated up to the cap; the call
  is charged its worst case, the prompt plus the cap, as a call that timed out is.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator

__all__ = ("failure_charge", "nothing_sent")

_MAX_CHAIN = 16
_BAD_ARGUMENTS = re.compile(
    r"unexpected keyword argument|multiple values for (keyword )?argument"
    r"|missing \d+ required (positional|keyword-only) argument|positional arguments? but"
)
"""What Python says when a call's arguments do not fit the function (before its body runs)."""


def failure_charge(exc: BaseException, prompt_tokens: int, cap: int) -> tuple[int, int]:
    """Return the (prompt, output) tokens to charge a call that raised ``exc``.

    See the module docstring for the rule.

    Example:
        >>> failure_charge(TypeError("chat() got an unexpected keyword argument 'x'"), 50, 8)
        (0, 0)
        >>> failure_charge(RuntimeError("stream broke"), 50, 8)
        (50, 8)
    """
    if nothing_sent(exc):
        return 0, 0
    if any(_is_status_error(e) for e in _chain(exc)):
        return prompt_tokens, 0
    return prompt_tokens, cap


def nothing_sent(exc: BaseException) -> bool:
    """Whether ``exc`` shows the call never reached a server (module docstring)."""
    if isinstance(exc, TypeError) and _BAD_ARGUMENTS.search(str(exc)):
        return True
    return any(_no_connection(e) for e in _chain(exc))


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(seen) < _MAX_CHAIN:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _no_connection(exc: BaseException) -> bool:
    if isinstance(exc, (ConnectionRefusedError, socket.gaierror)):
        return True
    try:
        import httpx
    except ImportError:  # pragma: no cover - langsmith brings httpx
        return False
    return isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout))


def _is_status_error(exc: BaseException) -> bool:
    code = getattr(exc, "status_code", None)
    if isinstance(code, int) and not isinstance(code, bool):
        return True
    try:
        import httpx
    except ImportError:  # pragma: no cover
        return False
    return isinstance(exc, httpx.HTTPStatusError)
