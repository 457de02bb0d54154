"""Answering a chat request with its run: one JSON reply, or a stream of chunks.

`RunResponse` is an ASGI response that runs a `ponder.serve.chat.ChatRun` while it watches
the connection: a client that goes away cancels its run. The run is then left as it was at
its last checkpoint, recorded ``running`` with no live process, which `ponder runs` lists as
``interrupted``; ``ponder resume RUN`` (or a request with ``ponder.run_id``) continues it.

The status line is sent when the first thing to say is known: a run refused at its start
(a paused run continued without a top-up, a busy run) is answered with its error status,
streamed or not, and a run whose model fails before its first candidate with 502.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from typing import Any

from ponder.result import RunResult
from ponder.serve.api_errors import ApiError, error_from, failed_run_error
from ponder.serve.auth import Receive, Scope, Send
from ponder.serve.chat import ChatRun
from ponder.serve.schemas import completion_body, finish_reason, reply_text
from ponder.serve.streaming import DONE, chunk, event, text_pieces

__all__ = ("RUN_ID_HEADER", "RunResponse", "json_response")

logger = logging.getLogger(__name__)

RUN_ID_HEADER = "x-ponder-run-id"
"""The response header naming the run a reply came from."""

_Item = tuple[str, Any]
"""What the run task hands the writer: ``("progress", event)``, ``("result", RunResult)``
or ``("error", ApiError)``."""


async def json_response(
    send: Send, status: int, body: dict[str, Any], *, run_id: str | None = None
) -> None:
    """Send one JSON response."""
    data = json.dumps(body).encode("utf-8")
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(data)).encode()),
    ]
    if run_id is not None:
        headers.append((RUN_ID_HEADER.encode(), run_id.encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


async def _disconnected(receive: Receive) -> None:
    """Return when the client closes the connection (the body was read before)."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


class RunResponse:
    """The ASGI response that runs a chat run and answers with it (streamed or not)."""

    def __init__(self, run: ChatRun, *, stream: bool, include_usage: bool = False) -> None:
        self.run = run
        """The run to answer with."""
        self.stream = stream
        """Answer with server-sent events."""
        self.include_usage = include_usage
        """End a stream with a usage chunk (``stream_options.include_usage``)."""
        self.completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        """The reply's id."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the run, answer with it; cancel it if the client goes away."""
        queue: asyncio.Queue[_Item] = asyncio.Queue()
        worker = asyncio.create_task(self._work(queue), name=f"ponder-run-{self.run.run_id}")
        watcher = asyncio.create_task(_disconnected(receive))
        try:
            if self.stream:
                await self._stream(queue, watcher, send)
            else:
                item = await self._next(queue, watcher)
                while item is not None and item[0] == "progress":
                    item = await self._next(queue, watcher)
                if item is not None:
                    await self._reply(item, send)
        finally:
            watcher.cancel()
            if not worker.done():
                worker.cancel()
                logger.info(
                    "client went away: run %s cancelled, left interrupted (resume it to go on)",
                    self.run.run_id,
                )
            with contextlib.suppress(asyncio.CancelledError):
                await worker

    async def _work(self, queue: asyncio.Queue[_Item]) -> None:
        def on_event(data: dict[str, Any]) -> None:
            queue.put_nowait(("progress", data))

        try:
            result = await self.run.run(on_event)
        except Exception as exc:
            error = error_from(exc)
            if error.status >= 500:
                logger.exception("run %s failed", self.run.run_id)
            queue.put_nowait(("error", error))
        else:
            queue.put_nowait(("result", result))

    async def _next(self, queue: asyncio.Queue[_Item], watcher: asyncio.Task[None]) -> _Item | None:
        """The run's next item, or ``None`` when the client went away first."""
        getter = asyncio.ensure_future(queue.get())
        done, _ = await asyncio.wait({getter, watcher}, return_when=asyncio.FIRST_COMPLETED)
        if getter in done:
            return getter.result()
        getter.cancel()
        return None

    async def _reply(self, item: _Item, send: Send) -> None:
        kind, value = item
        if kind == "error":
            error: ApiError = value
            await json_response(send, error.status, error.to_dict(), run_id=error.run_id)
            return
        result: RunResult = value
        if result.status == "failed":
            error = failed_run_error(result)
            await json_response(send, error.status, error.to_dict(), run_id=result.run_id)
            return
        body = completion_body(
            completion_id=self.completion_id, model=self.run.model_name, result=result,
            ponder=self.run.summary(result), usage=self.run.usage(result),
        )  # fmt: skip
        await json_response(send, 200, body, run_id=result.run_id)

    async def _stream(
        self, queue: asyncio.Queue[_Item], watcher: asyncio.Task[None], send: Send
    ) -> None:
        item = await self._next(queue, watcher)
        if item is None:
            return
        if item[0] == "error" or (item[0] == "result" and item[1].status == "failed"):
            await self._reply(item, send)  # nothing sent yet: answer with the error's status
            return
        headers = [
            (b"content-type", b"text/event-stream; charset=utf-8"),
            (b"cache-control", b"no-cache"),
            (b"x-accel-buffering", b"no"),
            (RUN_ID_HEADER.encode(), self.run.run_id.encode()),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await self._send(send, {"role": "assistant", "content": ""}, ponder=self.run.started())
        while item is not None and item[0] == "progress":
            await self._send(send, {"content": ""}, ponder=item[1])
            item = await self._next(queue, watcher)
        if item is None:
            return
        kind, value = item
        if kind == "error":
            await self._body(send, event(value.to_dict()) + DONE, more=False)
            return
        result: RunResult = value
        if result.status == "failed":
            await self._body(send, event(failed_run_error(result).to_dict()) + DONE, more=False)
            return
        for piece in text_pieces(reply_text(result)):
            await self._send(send, {"content": piece})
        usage = self.run.usage(result)
        end = {"event": "end", **self.run.summary(result)}
        await self._send(send, {}, finish_reason=finish_reason(result), ponder=end)
        if self.include_usage:
            await self._send(send, None, usage=usage)
        await self._body(send, DONE, more=False)

    async def _send(
        self,
        send: Send,
        delta: dict[str, Any] | None,
        *,
        finish_reason: str | None = None,
        ponder: dict[str, Any] | None = None,
        usage: dict[str, int] | None = None,
    ) -> None:
        data = chunk(
            self.completion_id, self.run.model_name, delta=delta, finish_reason=finish_reason,
            ponder=ponder, usage=usage,
        )  # fmt: skip
        await self._body(send, event(data))

    @staticmethod
    async def _body(send: Send, data: bytes, *, more: bool = True) -> None:
        await send({"type": "http.response.body", "body": data, "more_body": more})
