"""`ponder serve` for real: the command on loopback, the embedded SmolLM2 behind it."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import httpx
import openai
import pytest

from ponder import runs
from ponder.cli import main
from ponder.models import EmbeddedChatModel
from ponder.serve import BackgroundServer
from tests.serve.conftest import ponder_of, user

pytestmark = pytest.mark.embedded

OPTIONS = {"max_samples": 2, "min_samples": 2, "max_tokens": 64}
"""Small runs: at most two samples per step, 64 tokens each."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """``ponder serve`` as a user starts it, with an API key from the environment."""
    folder = tmp_path_factory.mktemp("serve")
    db = f"sqlite+aiosqlite:///{folder / 'runs.db'}"
    port = _free_port()
    log = (folder / "serve.log").open("w")
    env = {**os.environ, "PONDER_KEY": "sk-test", "PYTHONPATH": os.getcwd()}
    process = subprocess.Popen(
        [sys.executable, "-m", "ponder.cli", "serve", "--port", str(port), "--db", db,
         "--api-key-env", "PONDER_KEY"],
        stdout=log, stderr=subprocess.STDOUT, env=env,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                headers = {"authorization": "Bearer sk-test"}
                if httpx.get(f"{url}/models", headers=headers, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"ponder serve did not start: {Path(log.name).read_text()}")
            time.sleep(0.2)
        yield url, db
    finally:
        process.terminate()
        process.wait(timeout=60)
        log.close()


def test_the_command_answers_the_openai_client_with_a_run_ponder_shows(
    served: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    url, db = served
    with openai.OpenAI(base_url=url, api_key="sk-test", max_retries=0) as client:
        reply = client.chat.completions.create(
            model="ponder-self-consistency",
            messages=user("What is 7 + 5?"),
            extra_body={"ponder": {"options": OPTIONS, "budget": {"tokens": 3000}}},
        )
        stream = client.chat.completions.create(
            model="ponder-self-consistency", stream=True,
            messages=user("What is 3 + 4?"),
            extra_body={"ponder": {"options": OPTIONS}},
        )  # fmt: skip
        streamed = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    extra = ponder_of(reply)
    assert extra["status"] == "done" and len(extra["candidates"]) >= 2
    assert reply.choices[0].message.content
    assert reply.usage is not None
    assert reply.usage.total_tokens == sum(c["tokens"] for c in extra["candidates"])
    assert streamed
    capsys.readouterr()
    assert main(["show", extra["run_id"], "--db", db, "--json"]) == 0
    assert extra["run_id"] in capsys.readouterr().out
    assert main(["runs", "--db", db, "--json"]) == 0
    listed = {r["run_id"]: r for r in json.loads(capsys.readouterr().out)}
    assert listed[extra["run_id"]]["status"] == "done"
    assert listed[extra["run_id"]]["model"] is None  # the embedded default: resumable as is
    assert listed[extra["run_id"]]["tokens"] == reply.usage.total_tokens


class _Recording(EmbeddedChatModel):
    """SmolLM2, noting how many sequences each sample was decoded with."""

    peaks: ClassVar[list[int]] = []

    async def _agenerate(self, *args: Any, **kwargs: Any) -> Any:
        result = await super()._agenerate(*args, **kwargs)
        self.peaks.append(result.generations[0].message.response_metadata["batch_peak"])
        return result


async def test_concurrent_requests_share_the_batched_decoder(tmp_path: Path) -> None:
    model = _Recording.from_name("smollm2", reproducible=False)
    assert isinstance(model, _Recording)
    db = f"sqlite+aiosqlite:///{tmp_path / 'runs.db'}"
    with BackgroundServer(model=model, db=db) as server:
        async with openai.AsyncOpenAI(base_url=server.url, api_key="x", max_retries=0) as client:
            replies = await asyncio.gather(*(
                client.chat.completions.create(
                    model="ponder-self-consistency",
                    messages=user(f"What is {i} + 5?"),
                    extra_body={"ponder": {"options": OPTIONS}},
                )
                for i in range(4)
            ))  # fmt: skip
    assert all(ponder_of(r)["status"] == "done" for r in replies)
    # one run's step draws at most two samples: more decoded together came from other requests
    assert max(model.peaks) > 2, model.peaks
    recorded = {r["run_id"] for r in runs.list_runs(db=db)}
    assert {ponder_of(r)["run_id"] for r in replies} <= recorded
