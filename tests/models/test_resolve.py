from __future__ import annotations

import pytest

from ponder.errors import ConfigurationError
from ponder.models import EmbeddedChatModel, prompt_style_of, resolve_model
from ponder.models.openai_compat import OpenAICompatibleChatModel
from ponder.testing import ScriptedChatModel


def test_a_chat_model_is_used_as_is() -> None:
    model = ScriptedChatModel(replies=["x"])
    assert resolve_model(model) is model
    assert prompt_style_of(model) == "chat"


@pytest.mark.embedded
def test_embedded_names() -> None:
    default = resolve_model(None)
    assert isinstance(default, EmbeddedChatModel) and default.model_name == "smollm2"
    gemma = resolve_model("gemma3")
    assert isinstance(gemma, EmbeddedChatModel) and prompt_style_of(gemma) == "base"


def test_base_url_gives_an_openai_compatible_model() -> None:
    model = resolve_model("http://127.0.0.1:8080/v1#qwen")
    assert isinstance(model, OpenAICompatibleChatModel)
    assert model.model_name == "qwen"
    assert str(model.openai_api_base) == "http://127.0.0.1:8080/v1"


def test_max_tokens_is_sent_as_max_tokens() -> None:
    # langchain-openai renames it max_completion_tokens, which a llama.cpp server ignores.
    model = resolve_model("http://127.0.0.1:8080/v1")
    assert isinstance(model, OpenAICompatibleChatModel)
    payload = model._get_request_payload("hi", max_tokens=7, temperature=0.5, seed=3)
    assert payload["max_tokens"] == 7
    assert "max_completion_tokens" not in payload
    assert payload["seed"] == 3


@pytest.mark.parametrize("spec", ["gpt-17", "", "  ", 42])
def test_unknown_specs_are_clear_errors(spec: object) -> None:
    with pytest.raises(ConfigurationError):
        resolve_model(spec)  # type: ignore[arg-type]


def test_provider_spec_without_langchain_names_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "langchain.chat_models", None)  # as if not installed
    with pytest.raises(ConfigurationError, match=r"ponder\[providers\]"):
        resolve_model("openai:gpt-4o-mini")
