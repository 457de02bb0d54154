"""The OpenAI-compatible path for real: llama.cpp's own server on loopback, SmolLM2 behind it.

That server ignores ``max_completion_tokens`` (what langchain-openai sends) and drops ``n``;
ponder must still cap every call and count every token.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

import ponder
from ponder.models import locate_gguf
from ponder.models.openai_compat import from_base_url

pytestmark = pytest.mark.embedded


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    port = _free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(locate_gguf("smollm2")),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_ctx",
            "2048",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("llama.cpp server did not start")
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


async def test_solve_through_an_openai_compatible_server(server_url: str) -> None:
    client = httpx.AsyncClient()  # this test's loop owns it (langchain-openai's is shared)
    model = from_base_url(server_url, http_async_client=client)
    try:
        for _streamed_then_invoked in range(2):
            result = await ponder.asolve(
                "9 + 6 =",
                "best-of-n",
                model=model,
                budget=ponder.Budget(tokens=2000),
                verifier=ponder.ExpectedAnswer("15"),
                n=4,
                max_tokens=48,
            )
            assert result.ledger, result.error
            # The cap was honoured: the server saw max_tokens, not max_completion_tokens.
            assert all(entry["tokens_out"] <= 48 for entry in result.ledger)
            assert result.usage.tokens <= 2000
        # This server's streamed replies carry no usage (the first run's were charged their
        # bounds), so the same model is called without streaming after them: usage reported.
        assert all(e["usage_reported"] for e in result.ledger)
    finally:
        await client.aclose()


def test_a_server_that_is_down_fails_the_run_cleanly() -> None:
    port = _free_port()
    result = ponder.solve(
        "9 + 6 =",
        model=f"http://127.0.0.1:{port}/v1",
        budget=ponder.Budget(tokens=1000),
        max_samples=3,
    )
    assert result.status == "failed"
    assert result.candidates == []
    assert result.error is not None and "ModelError" in result.error


async def test_candidates_carry_the_servers_token_confidence(server_url: str) -> None:
    """llama.cpp's server gives logprobs and top_logprobs: each candidate's confidence is
    summarized from them and a confidence vote can read it. (Its streamed replies, the first
    run's, carry neither usage nor logprobs through langchain-openai; the model is then called
    without streaming, as the test above shows.)"""
    client = httpx.AsyncClient()
    model = from_base_url(server_url, http_async_client=client)
    try:
        for streamed in (True, False):
            result = await ponder.asolve(
                "4 * 8 =", model=model, budget={"tokens": 3000}, max_samples=3, max_tokens=48,
                select="confidence",
            )  # fmt: skip
            assert result.candidates, result.error
            if streamed:
                continue
            for candidate in result.candidates:
                confidence = candidate.get("confidence")
                assert confidence is not None, candidate
                assert confidence["tokens"] > 0 and confidence["mean_logprob"] <= 0
    finally:
        await client.aclose()
