"""A server that ignores the output cap: every streamed reply is cut at the cap.

An OpenAI-compatible server on loopback (the standard library's, in a thread) that answers
every request with thousands of tokens whatever ``max_tokens`` says, streamed as one token per
server-sent event. ponder streams models that report usage in streams (``ChatOpenAI``), so each
call stops at the first chunk past its cap: the run is charged at most one chunk over the cap
per call, ends ``failed`` with `BudgetOverrun`, and the CLI exits non-zero.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

import ponder
from ponder.cli import main
from ponder.models.openai_compat import from_base_url
from ponder.models.traits import traits_of

FLOOD = 5000
"""Tokens the server sends for every request."""


class Flooding(BaseHTTPRequestHandler):
    """Answers every chat completion with `FLOOD` tokens; counts what it sent."""

    sent: list[int] = []

    def log_message(self, *_args: Any) -> None:  # quiet
        pass

    def do_POST(self) -> None:  # noqa: N802 - the standard library's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        assert body.get("stream"), "ponder streams OpenAI-compatible models"
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        count = 0
        try:
            for _ in range(FLOOD):
                chunk = {
                    "id": "x", "object": "chat.completion.chunk", "created": 0,
                    "model": "flood",
                    "choices": [{"index": 0, "delta": {"content": " 7"}, "finish_reason": None}],
                }  # fmt: skip
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.flush()
                count += 1
            self.wfile.write(b"data: [DONE]\n\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client stopped reading: what it wanted
        finally:
            Flooding.sent.append(count)


@pytest.fixture
def flood_url() -> Iterator[str]:
    Flooding.sent = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Flooding)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


def test_openai_models_are_streamed() -> None:
    assert traits_of(from_base_url("http://127.0.0.1:1/v1")).streams


def test_a_reply_past_its_cap_is_cut_there_and_fails_the_run(flood_url: str) -> None:
    result = ponder.solve(
        "What is 3 + 4?", model=from_base_url(flood_url), budget=ponder.Budget(tokens=20_000),
        max_samples=4, min_samples=2, max_tokens=32,
    )  # fmt: skip
    assert result.status == "failed" and result.error is not None
    assert "BudgetOverrun" in result.error
    assert result.ledger and all(entry["tokens_out"] == 33 for entry in result.ledger)
    # The run stopped at its first overrunning step, a long way below the 5,000-token replies.
    assert sum(entry["tokens_out"] for entry in result.ledger) <= 4 * 33


def test_the_cli_exits_non_zero_after_an_overrun(
    flood_url: str, tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main([
        "solve", "What is 3 + 4?", "--model", flood_url, "--max-tokens", "20000",
        "--db", f"sqlite+aiosqlite:///{tmp_path / 'runs.db'}", "-O", "max_tokens=32",
    ])  # fmt: skip
    assert status == 1
    shown = capsys.readouterr()
    assert "BudgetOverrun" in shown.out + shown.err
