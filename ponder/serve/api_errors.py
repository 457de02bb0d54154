"""Errors as `ponder serve` answers them: OpenAI's error body and an HTTP status.

Every failure is ``{"error": {"message", "type", "code", "param"}}`` with a status:

=====  ==========================  ===========================================================
code   ``type`` / ``code``         when
=====  ==========================  ===========================================================
400    ``invalid_request_error``   a bad body, budget, option, verifier or message
401    ``authentication_error``    the API key is missing or wrong
403    ``invalid_request_error``   a request for a non-loopback ``Host`` on a loopback server
404    ``model_not_found``         the model names no strategy (or an upstream not served)
404    ``run_not_found``           ``ponder.run_id`` names no run in the server's store
409    ``run_busy``                another process works on that run
413    ``request_too_large``       the body is over `MAX_BODY` bytes
415    ``unsupported_media_type``  the body is not ``application/json``
500    ``server_error``            the store failed, or a bug (never a traceback)
502    ``upstream_error``          the model failed or timed out (the run is kept: ``failed``)
=====  ==========================  ===========================================================

A run that runs out of budget is not an error: its reply has ``finish_reason: "length"``.
"""

from __future__ import annotations

import json
from typing import Any

from ponder.errors import CheckpointError, ConfigurationError, ModelError, PonderError, RunBusy
from ponder.result import RunResult

__all__ = ("MAX_BODY", "ApiError", "error_from", "failed_run_error")

MAX_BODY = 1 << 20
"""Most bytes a request body may have (1 MiB)."""


class ApiError(Exception):
    """An error to answer with: an HTTP status and OpenAI's error body.

    Example:
        >>> ApiError(404, "no such model", code="model_not_found").to_dict()["error"]["code"]
        'model_not_found'
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        run_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        """The HTTP status."""
        self.message = message
        """What went wrong, and what to do."""
        self.type = type
        """OpenAI's error ``type``."""
        self.code = code
        """A short machine-readable code."""
        self.param = param
        """The request field at fault, when one is."""
        self.run_id = run_id
        """The run the error concerns (kept in the store), if any."""

    def to_dict(self) -> dict[str, Any]:
        """The error body, as data."""
        error: dict[str, Any] = {
            "message": self.message,
            "type": self.type,
            "code": self.code,
            "param": self.param,
        }
        if self.run_id is not None:
            error["run_id"] = self.run_id
        return {"error": error}

    def body(self) -> bytes:
        """The error body, as JSON bytes."""
        return json.dumps(self.to_dict()).encode("utf-8")


def error_from(exc: BaseException) -> ApiError:
    """The `ApiError` that answers ``exc`` (a bug becomes a bare 500, never a traceback)."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, RunBusy):
        return ApiError(409, str(exc), code="run_busy", run_id=exc.run_id)
    if isinstance(exc, ConfigurationError):
        return ApiError(400, str(exc), code="invalid_request")
    if isinstance(exc, ModelError):  # raised before the run began: it could not be loaded
        return ApiError(502, f"the model failed: {exc}", type="upstream_error", code="model_error")
    if isinstance(exc, CheckpointError):
        return ApiError(500, str(exc), type="server_error", code="store_error")
    if isinstance(exc, PonderError):
        return ApiError(500, f"{type(exc).__name__}: {exc}", type="server_error",
            code="ponder_error",
        )  # fmt: skip
    return ApiError(500, "internal server error (see the server's log)",
        type="server_error", code="internal_error",
    )  # fmt: skip


_UPSTREAM = ("ModelError", "ModelTimeout", "BudgetOverrun")
"""Recorded failures that are the model's (answered 502)."""


def failed_run_error(result: RunResult) -> ApiError:
    """The error that answers a run that ended ``failed`` (it is kept in the store)."""
    errors = result.errors
    upstream = [e for e in errors if e["kind"] in _UPSTREAM]
    first = upstream[0] if upstream else (errors[0] if errors else None)
    what = f"{first['kind']}: {first['message']}" if first else "the run failed"
    where = f"; run {result.run_id} is kept (ponder show {result.run_id})" if result.run_id else ""
    if upstream:
        code = "model_timeout" if upstream[0]["kind"] == "ModelTimeout" else "model_error"
        return ApiError(502, f"the model failed: {what}{where}", type="upstream_error",
            code=code, run_id=result.run_id,
        )  # fmt: skip
    return ApiError(500, f"the run failed: {what}{where}", type="server_error",
        code="run_failed", run_id=result.run_id,
    )  # fmt: skip
