from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from ponder.serve import BackgroundServer
from ponder.testing import ScriptedChatModel


def user(text: str) -> list[Any]:
    """A conversation of one user message (typed loosely, as the openai client takes it)."""
    return [{"role": "user", "content": text}]


def ponder_of(reply: Any) -> dict[str, Any]:
    """The ``ponder`` field of a reply or a chunk."""
    extra = reply.model_extra
    assert extra is not None and "ponder" in extra, reply
    found: dict[str, Any] = extra["ponder"]
    return found


def reply_for(messages, kwargs) -> str:
    """Answers a sum in the question; "slow" problems take their time, "fail" ones raise."""
    text = messages[-1].text
    if "fail" in text:
        raise RuntimeError("upstream went away")
    return "Adding them up gives 42. The answer is 42."


@pytest.fixture
def run_db(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'served.db'}"


@pytest.fixture
def scripted() -> ScriptedChatModel:
    return ScriptedChatModel(reply_fn=reply_for)


@pytest.fixture
def server(scripted: ScriptedChatModel, run_db: str) -> Iterator[BackgroundServer]:
    with BackgroundServer(model=scripted, db=run_db) as running:
        yield running


@pytest.fixture
def client(server: BackgroundServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=server.url, api_key="unused", max_retries=0) as made:
        yield made
