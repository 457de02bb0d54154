"""The ASGI application of `ponder serve`: OpenAI's chat-completion API over ponder's runs.

Routes:

- ``GET /v1/models``: ``ponder-<strategy>`` for every strategy (`ponder.graphs.STRATEGIES`),
  each on the server's model; ``ponder-<strategy>/<spec>`` names another upstream model
  spec, accepted when the server allows it (``--allow-model SPEC``) and listed then;
- ``GET /v1/models/{model}``: one of them;
- ``POST /v1/chat/completions``: a run (see `ponder.serve.schemas` for what is read of the
  request, `ponder.serve.streaming` for ``stream: true``).

Every run is persisted in the server's store (``db``), so ``ponder runs``, ``ponder show``
and ``ponder resume`` with the same ``--db`` find it by the id the reply carries (header
``x-ponder-run-id``, field ``ponder.run_id``). Errors are OpenAI's error bodies (see
`ponder.serve.api_errors`), never a traceback.

Example:
    >>> from ponder.testing import ScriptedChatModel
    >>> app = create_app(ScriptedChatModel(replies=["The answer is 4."]), db="sqlite+aiosqlite://")
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Sequence
from typing import Any, cast, get_args

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ponder.api import DEFAULT_DB
from ponder.errors import ConfigurationError
from ponder.graphs.registry import STRATEGIES
from ponder.models.embedded import EmbeddedChatModel, EmbeddedName
from ponder.models.resolve import resolve_model
from ponder.serve.api_errors import MAX_BODY, ApiError, error_from
from ponder.serve.auth import ASGIApp, Guard, Receive, Scope, Send
from ponder.serve.chat import ModelPool, parse_model, prepare
from ponder.serve.responses import RunResponse, json_response
from ponder.serve.schemas import MODEL_PREFIX, parse_request

__all__ = ("build_model", "create_app")

logger = logging.getLogger(__name__)


def build_model(spec: str | None, *, reproducible: bool = False) -> BaseChatModel:
    """The chat model a server answers with for ``spec`` (the embedded SmolLM2 for ``None``).

    An embedded model is built with ``reproducible=False`` unless asked: the calls of
    concurrent requests are then decoded together in one batch, instead of each run's step
    alone (see `ponder.models.EmbeddedChatModel.reproducible`).

    Raises:
        ConfigurationError: The spec names no usable model.
    """
    name = spec or "smollm2"
    if name in get_args(EmbeddedName):
        return EmbeddedChatModel.from_name(cast(EmbeddedName, name), reproducible=reproducible)
    return resolve_model(name)


def _model_entry(name: str, upstream: str, spec_name: str) -> dict[str, Any]:
    spec = STRATEGIES[spec_name]
    return {
        "id": name,
        "object": "model",
        "created": 0,
        "owned_by": "ponder",
        "ponder": {
            "strategy": spec_name,
            "summary": spec.summary,
            "upstream": upstream,
            "needs_verifier": spec.needs_verifier,
            "options": sorted(f.name for f in dataclasses.fields(spec.config_type)),
        },
    }


class _ChatEndpoint:
    """``POST /v1/chat/completions``, as a plain ASGI app (it owns the connection)."""

    def __init__(self, pool: ModelPool, db: str) -> None:
        self.pool = pool
        self.db = db

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            body = await _read_json(request)
            chat = parse_request(body)
            run = await prepare(chat, pool=self.pool, db=self.db)
        except Exception as exc:
            error = error_from(exc)
            if error.status >= 500:
                logger.exception("request refused by a failure")
            await json_response(send, error.status, error.to_dict(), run_id=error.run_id)
            return
        include_usage = bool((chat.stream_options or {}).get("include_usage"))
        await RunResponse(run, stream=chat.stream, include_usage=include_usage)(
            scope, receive, send
        )


async def _read_json(request: Request) -> object:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json":
        raise ApiError(
            415, f"send the body as application/json, not {kind or 'no content type'!r}",
            code="unsupported_media_type",
        )  # fmt: skip
    data = bytearray()
    async for part in request.stream():
        data += part
        if len(data) > MAX_BODY:
            raise ApiError(413, f"the body is over {MAX_BODY} bytes", code="request_too_large")
    try:
        return json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigurationError(f"the body is not valid JSON: {exc}") from None


class _Routes:
    """``GET /v1/models`` and ``GET /v1/models/{name}``."""

    def __init__(self, pool: ModelPool) -> None:
        self.pool = pool

    def entries(self) -> list[dict[str, Any]]:
        pool, found = self.pool, []
        for name in STRATEGIES:
            found.append(_model_entry(f"{MODEL_PREFIX}{name}", pool.default_spec, name))
            for upstream in pool.upstreams[1:]:
                found.append(_model_entry(f"{MODEL_PREFIX}{name}/{upstream}", upstream, name))
        return found

    async def list_models(self, request: Request) -> Response:
        return JSONResponse({"object": "list", "data": self.entries()})

    async def get_model(self, request: Request) -> Response:
        name = request.path_params["name"]
        try:
            spec, upstream = parse_model(name)
            if upstream is not None and upstream not in self.pool.upstreams:
                self.pool.get(upstream)  # raises the 404
        except ApiError as error:
            return JSONResponse(error.to_dict(), status_code=error.status)
        return JSONResponse(_model_entry(name, upstream or self.pool.default_spec, spec.name))


async def _http_error(request: Request, exc: Exception) -> Response:
    """A route or method not found, or a bug: OpenAI's error body (never a traceback)."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    if status >= 500:
        logger.error("request failed", exc_info=exc)
    message = exc.detail if isinstance(exc, HTTPException) else "internal server error"
    error = ApiError(
        status, f"{request.method} {request.url.path}: {message}",
        type="server_error" if status >= 500 else "invalid_request_error",
        code="not_found" if status == 404 else None,
    )  # fmt: skip
    return JSONResponse(error.to_dict(), status_code=status)


def create_app(
    model: BaseChatModel | str | None = None,
    *,
    db: str = DEFAULT_DB,
    api_key: str | None = None,
    allow_models: Sequence[str] = (),
    loopback_only: bool = True,
    reproducible: bool = False,
    warm: bool = False,
) -> ASGIApp:
    """Build the application of `ponder serve`.

    Args:
        model: The server's model: a chat model object (shared by every request) or a model
            spec (`build_model`); the embedded SmolLM2 when ``None``.
        db: Where runs are kept (created when missing).
        api_key: Requests must carry ``Authorization: Bearer <api_key>``; ``None``: no check.
        allow_models: Other model specs a request may name as ``ponder-<strategy>/<spec>``
            (none by default: a request cannot make the server reach another host).
        loopback_only: Answer only requests whose ``Host`` is a loopback host (set when the
            server binds a loopback address).
        reproducible: Build embedded models that decode each run's steps alone (see
            `build_model`).
        warm: Load an embedded model now rather than at the first request (seconds).

    Raises:
        ConfigurationError: The model spec is not usable.
    """
    if isinstance(model, BaseChatModel):
        default, default_spec = model, getattr(model, "model_name", None) or type(model).__name__
    else:
        default, default_spec = build_model(model, reproducible=reproducible), model or "smollm2"
    if warm and isinstance(default, EmbeddedChatModel):
        default.count_prompt_tokens([HumanMessage("warm up")])
    for spec in allow_models:
        if not isinstance(spec, str) or not spec.strip():
            raise ConfigurationError(f"--allow-model takes a model spec, got {spec!r}")
    pool = ModelPool(
        default=default, default_spec=str(default_spec), allowed=tuple(allow_models),
        make=lambda spec: build_model(spec, reproducible=reproducible),
    )  # fmt: skip

    routes = _Routes(pool)
    app = Starlette(
        routes=[
            Route("/v1/models", routes.list_models, methods=["GET"]),
            Route("/v1/models/{name:path}", routes.get_model, methods=["GET"]),
            Route("/v1/chat/completions", _ChatEndpoint(pool, db), methods=["POST"]),
        ],
        exception_handlers={HTTPException: _http_error, Exception: _http_error},
    )
    return Guard(app, api_key=api_key, loopback_only=loopback_only)
