"""A fake model server on loopback speaking the OpenAI and Ollama chat protocols.

The standard library's HTTP server in a thread: ``POST /v1/chat/completions`` (JSON, or
server-sent events with a final usage chunk when ``stream_options.include_usage`` is set) and
``POST /api/chat`` (one JSON object, or NDJSON lines ending in a ``done`` line with
``prompt_eval_count``/``eval_count``). Every reply is "The answer is 4." one word per token,
cut at the request's cap; the prompt's tokens are reported as its whitespace-separated
words. Every request is recorded (path, headers, body) for the tests to read.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

REPLY = ["The", " answer", " is", " 4."]


@dataclass
class Seen:
    """One request the server received."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class FakeServer:
    """The running server: its base URL and what it received."""

    url: str
    seen: list[Seen] = field(default_factory=list)
    status: int = 200
    """The HTTP status to answer with (an error status answers ``{"error": ...}``)."""
    flood: int = 0
    """When set, every Ollama reply is this many tokens, whatever its cap (a server that
    ignores ``num_predict``)."""


def _prompt_words(messages: list[dict[str, Any]]) -> int:
    return sum(len(str(m.get("content", "")).split()) for m in messages)


class _Handler(BaseHTTPRequestHandler):
    server_state: FakeServer

    def log_message(self, *_args: Any) -> None:  # quiet
        pass

    def do_POST(self) -> None:  # noqa: N802 - the standard library's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        state = self.server_state
        state.seen.append(Seen(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
        if state.status != 200:
            self._json({"error": "the fake server was told to fail"}, state.status)
        elif self.path.endswith("/chat/completions"):
            self._openai(body)
        elif self.path == "/api/chat":
            self._ollama(body)
        else:
            self._json({"error": "not found"}, 404)

    def _json(self, payload: dict[str, Any], status: int = 200) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _openai(self, body: dict[str, Any]) -> None:
        cap = body.get("max_tokens") or body.get("max_completion_tokens") or len(REPLY)
        words = REPLY[:cap]
        prompt = _prompt_words(body["messages"])
        finish = "length" if len(words) < len(REPLY) else "stop"
        usage = {
            "prompt_tokens": prompt,
            "completion_tokens": len(words),
            "total_tokens": prompt + len(words),
        }
        base: dict[str, Any] = {"id": "x", "created": 0, "model": body.get("model", "fake")}
        if not body.get("stream"):
            self._json({
                **base, "object": "chat.completion", "usage": usage,
                "choices": [{"index": 0, "finish_reason": finish,
                             "message": {"role": "assistant", "content": "".join(words)}}],
            })  # fmt: skip
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        chunks: list[dict[str, Any]] = [
            {"index": 0, "delta": {"content": word}, "finish_reason": None} for word in words
        ]
        chunks.append({"index": 0, "delta": {}, "finish_reason": finish})
        for choice in chunks:
            event = {**base, "object": "chat.completion.chunk", "choices": [choice]}
            self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
        if (body.get("stream_options") or {}).get("include_usage"):
            event = {**base, "object": "chat.completion.chunk", "choices": [], "usage": usage}
            self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
        self.wfile.write(b"data: [DONE]\n\n")

    def _ollama(self, body: dict[str, Any]) -> None:
        options = body.get("options") or {}
        cap = options.get("num_predict") or len(REPLY)
        words = [" 7"] * self.server_state.flood if self.server_state.flood else REPLY[:cap]
        base = {"model": body["model"], "created_at": "2025-01-01T00:00:00Z"}
        done = {
            **base, "message": {"role": "assistant", "content": ""}, "done": True,
            "done_reason": "length" if len(words) < len(REPLY) else "stop",
            "total_duration": 1, "load_duration": 1, "prompt_eval_count":
            _prompt_words(body["messages"]), "prompt_eval_duration": 1,
            "eval_count": len(words), "eval_duration": 1,
        }  # fmt: skip
        if not body.get("stream", True):
            done["message"] = {"role": "assistant", "content": "".join(words)}
            self._json(done)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.end_headers()
        try:
            for word in words:
                line = {**base, "message": {"role": "assistant", "content": word}, "done": False}
                self.wfile.write((json.dumps(line) + "\n").encode())
                self.wfile.flush()
            self.wfile.write((json.dumps(done) + "\n").encode())
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client stopped reading: what it wanted


@contextmanager
def fake_server() -> Iterator[FakeServer]:
    """Run the fake server on a free loopback port for the ``with`` block."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    state = FakeServer(url=f"http://127.0.0.1:{httpd.server_address[1]}")
    httpd.RequestHandlerClass = type("Handler", (_Handler,), {"server_state": state})
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
