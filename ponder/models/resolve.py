"""Turn what a user passes as ``model=`` into a LangChain chat model.

Accepted:

- a `langchain_core.language_models.BaseChatModel` instance: used as it is;
- ``None``, ``"smollm2"`` or ``"gemma3"``: an embedded model (see `ponder.models.embedded`);
- ``"http://host:port/v1"`` (optionally ``#model-name``): an OpenAI-compatible server, sent
  ``OPENAI_API_KEY`` when set, or the variable ``PONDER_API_KEY_ENV`` names
  (`ponder.models.openai_compat.api_key_of`);
- ``"provider:model"`` (``"openai:gpt-4o-mini"``, ``"ollama:qwen3"``): langchain's
  ``init_chat_model``, with the ``providers`` extra (``pip install 'ponder[providers]'``:
  langchain, langchain-openai, langchain-ollama; another provider's package as well).
"""

from __future__ import annotations

import importlib
from typing import Any, cast, get_args

from langchain_core.language_models import BaseChatModel

from ponder.errors import ConfigurationError
from ponder.models.embedded import EMBEDDED_MODELS, EmbeddedChatModel, EmbeddedName
from ponder.models.traits import traits_of
from ponder.prompts import PromptStyle

__all__ = ("ModelSpec", "prompt_style_of", "resolve_model")

ModelSpec = BaseChatModel | str | None
"""What ``model=`` accepts; see the module docstring."""


def resolve_model(spec: ModelSpec) -> BaseChatModel:
    """Return the chat model ``spec`` names.

    Raises:
        ConfigurationError: The spec names no known model, or its package is missing.
    """
    if isinstance(spec, BaseChatModel):
        return spec
    if spec is None:
        spec = "smollm2"
    if not isinstance(spec, str) or not spec.strip():
        raise ConfigurationError(f"model must be a chat model or a model name, got {spec!r}")
    spec = spec.strip()
    if spec in get_args(EmbeddedName):
        return EmbeddedChatModel.from_name(cast(EmbeddedName, spec))
    if spec.startswith(("http://", "https://")):
        url, _, name = spec.partition("#")
        from ponder.models.openai_compat import from_base_url

        return from_base_url(url, model_name=name or "local")
    if ":" in spec:
        try:
            chat_models: Any = importlib.import_module("langchain.chat_models")
        except ImportError as exc:
            raise ConfigurationError(
                f"model {spec!r} looks like provider:model, which needs langchain's "
                "init_chat_model: pip install 'ponder[providers]' (and the provider's "
                "package, if it is not langchain-openai or langchain-ollama)"
            ) from exc
        try:
            model = chat_models.init_chat_model(spec)
        except Exception as exc:
            raise ConfigurationError(f"could not create model {spec!r}: {exc}") from exc
        return cast(BaseChatModel, model)
    raise ConfigurationError(
        f"unknown model {spec!r}: use an embedded model ({', '.join(EMBEDDED_MODELS)}), "
        "an OpenAI-compatible base URL (http://host:port/v1), provider:model, "
        "or a LangChain chat model object"
    )


def prompt_style_of(model: BaseChatModel) -> PromptStyle:
    """Return how ``model`` wants its prompts (``base`` for base models, else ``chat``)."""
    return traits_of(model).prompt_style
