"""The real ChatOllama and ChatOpenAI against a fake server on loopback (no network).

Each class is given the output cap by its own field (``num_predict``, ``max_tokens``), calls
that fail before anything is sent are charged no tokens, a URL spec sends the user's key, and
prompts are counted by the model's own counter where it has one.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

import pytest
from langchain_core.messages import BaseMessage, HumanMessage
from langchain_ollama import ChatOllama
from langchain_openai import ChatOpenAI

import ponder
from ponder.budget import Budget, Usage
from ponder.context import RunContext
from ponder.errors import ConfigurationError
from ponder.models import resolve_model
from ponder.models.call_fields import output_cap_field, register_output_cap
from ponder.models.token_count import byte_bound
from ponder.models.traits import traits_of
from ponder.nodes import Meter
from tests.models.fake_providers import FakeServer, fake_server

CAP = 48


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with fake_server() as running:
        yield running


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port  # closed again: a connection to it is refused


async def _solve(model: Any, **budget: Any) -> ponder.RunResult:
    return await ponder.asolve(
        "What is 2 + 2?", "self-consistency", model=model, min_samples=3, max_samples=3,
        max_tokens=CAP, budget=Budget(**(budget or {"tokens": 4000})),
    )  # fmt: skip


async def _one_call(model: Any, text: str = "What is 2 + 2?") -> Any:
    meter = Meter({}, RunContext(model=model), node="n", budget=Budget(tokens=4000), usage=Usage())
    return await meter.call([HumanMessage(text)], max_tokens=CAP), meter


async def test_a_solve_through_chat_ollama_sends_num_predict(server: FakeServer) -> None:
    result = await _solve(ChatOllama(model="fake", base_url=server.url))
    assert (result.status, result.answer) == ("done", "4")
    chats = [s.body for s in server.seen if s.path == "/api/chat"]
    assert chats and all(body["options"]["num_predict"] == CAP for body in chats)
    assert all(body["stream"] for body in chats)  # streamed: a reply past the cap is cut
    assert all("max_tokens" not in body and "temperature" not in body for body in chats)
    assert len(chats) >= 2 and len(result.ledger) == len(chats)
    assert sorted(body["options"]["seed"] for body in chats) == list(range(len(chats)))
    # Charged what the server reported (its usage closes the stream).
    assert all(e["usage_reported"] and e["tokens_out"] == 4 for e in result.ledger)


async def test_an_ollama_server_that_ignores_num_predict_is_cut_at_the_cap(
    server: FakeServer,
) -> None:
    server.flood = 5000
    result, meter = await _one_call(ChatOllama(model="fake", base_url=server.url))
    assert result.overrun is not None and meter.stop_reason == "error"
    assert meter.ledger[0]["tokens_out"] == CAP + 1  # the first chunk past the cap
    # ollama's client closes its response in an inner async generator, which the loop
    # finalizes (closing the connection) once ChatOllama's stream is closed: let it run.
    for _ in range(20):
        await asyncio.sleep(0.01)


async def test_chat_openai_sends_its_cap_and_the_url_spec_sends_max_tokens(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-123")
    chat = ChatOpenAI(model="gpt-test", base_url=f"{server.url}/v1", max_retries=0)
    result = await _solve(chat)
    assert result.answer == "4"
    sent = [s.body for s in server.seen]
    # ChatOpenAI's name for its max_tokens field (the OpenAI API's current one).
    assert all(body["max_completion_tokens"] == CAP for body in sent)
    assert all(body["stream"] and body["stream_options"]["include_usage"] for body in sent)
    server.seen.clear()
    result = await _solve(resolve_model(f"{server.url}/v1#fake"))
    assert result.answer == "4"
    assert all(s.body["max_tokens"] == CAP for s in server.seen)
    assert all(e["usage_reported"] for e in result.ledger)
    assert {s.headers["authorization"] for s in server.seen} == {"Bearer sk-test-123"}


async def test_a_url_spec_sends_the_key_its_variable_names(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-not-this-one")
    monkeypatch.setenv("PONDER_API_KEY_ENV", "VLLM_KEY")
    monkeypatch.setenv("VLLM_KEY", "vllm-secret")
    await _one_call(resolve_model(f"{server.url}/v1"))
    assert server.seen[0].headers["authorization"] == "Bearer vllm-secret"
    monkeypatch.delenv("VLLM_KEY")
    with pytest.raises(ConfigurationError, match="VLLM_KEY is not set") as raised:
        resolve_model(f"{server.url}/v1")
    assert "secret" not in str(raised.value)


async def test_without_a_key_a_url_spec_sends_a_placeholder(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("PONDER_API_KEY_ENV", raising=False)
    await _one_call(resolve_model(f"{server.url}/v1"))
    assert server.seen[0].headers["authorization"] == "Bearer not-needed"


async def test_a_refused_connection_is_charged_no_tokens() -> None:
    for model in (
        ChatOllama(model="fake", base_url=f"http://127.0.0.1:{_closed_port()}"),
        resolve_model(f"http://127.0.0.1:{_closed_port()}/v1"),
    ):
        result, meter = await _one_call(model)
        assert result.failure is not None and meter.stop_reason == "error"
        (entry,) = meter.ledger
        assert (entry["tokens_in"], entry["tokens_out"], entry["ok"]) == (0, 0, False)


class _KeywordCapOllama(ChatOllama):
    """Told to take its cap as ``max_tokens``, a keyword ChatOllama's client refuses."""

    ponder_output_cap: ClassVar[str] = "max_tokens"


async def test_a_keyword_the_client_refuses_is_charged_no_tokens(server: FakeServer) -> None:
    model = _KeywordCapOllama(model="fake", base_url=server.url)
    assert output_cap_field(type(model)) == "max_tokens"
    result, meter = await _one_call(model)
    assert "unexpected keyword argument 'max_tokens'" in str(result.failure)
    assert server.seen == []  # nothing reached the server
    assert (meter.ledger[0]["tokens_in"], meter.ledger[0]["tokens_out"]) == (0, 0)


async def test_an_error_status_is_charged_the_prompt_only(server: FakeServer) -> None:
    server.status = 500
    result, meter = await _one_call(ChatOllama(model="fake", base_url=server.url))
    assert result.failure is not None and len(server.seen) == 1
    entry = meter.ledger[0]
    assert (entry["tokens_in"], entry["tokens_out"]) == (result.prompt_tokens, 0)
    assert entry["tokens_in"] > 0


class _CountingOllama(ChatOllama):
    """A ChatOllama with a counter of its own (as a class with a tokenizer has)."""

    asked: ClassVar[list[int]] = []

    def get_num_tokens_from_messages(
        self, messages: Sequence[BaseMessage], tools: Sequence[Any] | None = None
    ) -> int:
        self.asked.append(len(messages))
        return sum(len(m.text.split()) for m in messages) + 3


class _BrokenCounter(ChatOllama):
    asked: ClassVar[list[int]] = []

    def get_num_tokens_from_messages(
        self, messages: Sequence[BaseMessage], tools: Sequence[Any] | None = None
    ) -> int:
        self.asked.append(1)
        raise OSError("the tokenizer's tables cannot be fetched")


async def test_prompts_are_counted_by_the_models_own_counter(server: FakeServer) -> None:
    _CountingOllama.asked = []
    model = _CountingOllama(model="fake", base_url=server.url)
    assert traits_of(model).token_count == "model"
    prompt = [HumanMessage("What is 2 + 2?")]
    result, meter = await _one_call(model)
    # The count (5 words + 3) plus the margin (2%, rounded up, and 4 tokens).
    assert result.prompt_tokens == 8 + 1 + 4 < byte_bound(prompt)
    assert result.overrun is None and meter.ledger[0]["tokens_in"] == 5
    run = await _solve(_CountingOllama(model="fake", base_url=server.url))
    assert run.answer == "4"


async def test_a_tokenizer_given_to_the_model_counts_its_prompts(server: FakeServer) -> None:
    model = ChatOllama(model="fake", base_url=server.url, custom_get_token_ids=_words)
    assert traits_of(model).token_count == "model"
    result, _ = await _one_call(model)
    assert result.prompt_tokens == 5 + 8 + 16  # the words plus the template allowances


def _words(text: str) -> list[int]:
    return list(range(len(text.split())))


async def test_a_counter_that_raises_falls_back_to_bytes_and_is_not_asked_again(
    server: FakeServer,
) -> None:
    _BrokenCounter.asked = []
    model = _BrokenCounter(model="fake", base_url=server.url)
    run = await _solve(model)
    assert run.answer == "4" and len(run.ledger) >= 2
    assert _BrokenCounter.asked == [1]  # once: every later prompt is counted by bytes


def test_which_models_count_their_own_prompts() -> None:
    # LangChain's default counter (GPT-2 through transformers) is not the model's.
    assert traits_of(ChatOllama(model="fake")).token_count == "bytes"
    # tiktoken is OpenAI's tokenizer: used for OpenAI's API (counted when a call is planned),
    # not for another server behind the same class.
    assert traits_of(ChatOpenAI(model="gpt-4o", api_key="k")).token_count == "model"  # type: ignore[arg-type]
    local = ChatOpenAI(model="m", api_key="k", base_url="http://127.0.0.1:1/v1")  # type: ignore[arg-type]
    assert traits_of(local).token_count == "bytes"
    assert traits_of(resolve_model("http://127.0.0.1:1/v1")).token_count == "bytes"


def test_output_cap_fields_by_class() -> None:
    assert traits_of(ChatOllama(model="fake")).cap_field == "num_predict"
    assert traits_of(ChatOpenAI(model="m", api_key="k")).cap_field == "max_tokens"  # type: ignore[arg-type]

    class Mine(ChatOllama):
        pass

    register_output_cap("Mine", "num_ctx")
    try:
        assert output_cap_field(Mine) == "num_ctx"
    finally:
        from ponder.models import call_fields

        call_fields._registered.pop("Mine")
    with pytest.raises(ConfigurationError):
        register_output_cap(Mine, "not a field")


def test_a_provider_spec_reaches_init_chat_model() -> None:
    model = resolve_model("ollama:qwen3")
    assert isinstance(model, ChatOllama) and model.model == "qwen3"
