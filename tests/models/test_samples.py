"""N samples of one prompt from any model: the ``n`` parameter, its fallback, the embedded
batch, and llama.cpp's server (which drops ``n``)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from ponder.errors import ConfigurationError
from ponder.models import EmbeddedChatModel
from ponder.models.openai_compat import from_base_url
from ponder.models.samples import asample_n, sample_n
from ponder.testing import ScriptedChatModel
from tests.models.test_openai_server import server_url  # noqa: F401 - the server fixture


class _FewChoices(BaseChatModel):
    """Takes ``n`` but returns at most ``cap`` choices, as some servers do; like ChatOpenAI,
    every choice carries the whole response's usage."""

    n: int = 1
    cap: int = 2
    requests: list[int] = []

    @property
    def _llm_type(self) -> str:
        return "few-choices"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        asked = int(kwargs.get("n", 1))
        self.requests.append(asked)
        k = min(asked, self.cap)
        usage = {"input_tokens": 10, "output_tokens": 2 * k, "total_tokens": 10 + 2 * k}
        generations = [
            ChatGeneration(message=AIMessage(f"s{len(self.requests)}.{i}", usage_metadata=usage))
            for i in range(k)
        ]
        billed = {"prompt_tokens": 10, "completion_tokens": 2 * k}
        return ChatResult(generations=generations, llm_output={"token_usage": billed})


def test_missing_choices_are_drawn_by_separate_calls() -> None:
    model = _FewChoices(requests=[])
    samples = sample_n(model, "q", 5)
    assert len(samples.messages) == 5
    assert (samples.from_n, samples.from_calls, samples.calls) == (2, 3, 4)
    assert model.requests[0] == 5 and sorted(model.requests[1:]) == [1, 1, 1]
    # The n request billed its prompt once; each separate call billed it again.
    assert samples.input_tokens == 10 + 3 * 10
    assert samples.output_tokens == 2 * 2 + 3 * 2


def test_n_can_be_turned_off_and_plain_models_get_concurrent_calls() -> None:
    model = _FewChoices(requests=[])
    samples = sample_n(model, "q", 3, use_n=False)
    assert (samples.from_n, samples.from_calls, samples.calls) == (0, 3, 3)
    scripted = ScriptedChatModel(replies=["a b", "c"], delay=0.05)
    many = sample_n(scripted, "q", 6, max_concurrency=6)
    assert len(many.messages) == 6 and many.calls == 6
    with pytest.raises(ConfigurationError):
        sample_n(scripted, "q", 0)


async def test_the_concurrency_limit_holds() -> None:
    scripted = ScriptedChatModel(replies=["x"], delay=0.1)
    started = asyncio.get_running_loop().time()
    await asample_n(scripted, "q", 6, max_concurrency=2)
    assert asyncio.get_running_loop().time() - started >= 0.29  # three waves of two


@pytest.mark.embedded
def test_the_embedded_model_draws_them_in_one_batch(smollm2: EmbeddedChatModel) -> None:
    samples = sample_n(smollm2, "Name a fruit.", 3, seed=5, max_tokens=8, temperature=0.9)
    assert len(samples.messages) == 3
    assert [m.response_metadata["seed"] for m in samples.messages] == [5, 6, 7]
    prompt = smollm2.count_prompt_tokens(
        [m for m in smollm2._convert_input("Name a fruit.").to_messages()]
    )
    assert samples.input_tokens == 3 * prompt
    assert samples.output_tokens == sum(
        m.usage_metadata["output_tokens"] for m in samples.messages if m.usage_metadata
    )


@pytest.mark.embedded
def test_llama_cpp_server_drops_n_and_the_rest_are_drawn_separately(
    server_url: str,  # noqa: F811 - the imported fixture
) -> None:
    model = from_base_url(server_url)
    samples = sample_n(model, "Name a color.", 3, seed=1, max_tokens=8, temperature=1.0)
    assert len(samples.messages) == 3
    # llama.cpp's server answered the n=3 request with one choice, without an error.
    assert (samples.from_n, samples.from_calls, samples.calls) == (1, 2, 3)
    assert samples.output_tokens == sum(
        m.usage_metadata["output_tokens"] for m in samples.messages if m.usage_metadata
    )
    assert samples.input_tokens > 0
