"""Any OpenAI-compatible server (llama.cpp server, vLLM, OpenAI) through langchain-openai.

`OpenAICompatibleChatModel` is `langchain_openai.ChatOpenAI` with the fixes a local server
needs: the output cap goes out as ``max_tokens`` (langchain-openai renames it
``max_completion_tokens``, which the llama.cpp server ignores), and no key is required.

Several samples of one prompt: `ponder.models.samples.asample_n` asks for ``n`` choices in
one request (the prompt billed once) and draws whatever a server leaves out (llama.cpp's
server accepts ``n`` and returns one choice) by concurrent requests. Inside a run, the
samples of one step are concurrent requests, at most
`ponder.context.RunContext.max_concurrent_calls` at once.
"""

from __future__ import annotations

from typing import Any

from langchain_core.language_models import LanguageModelInput

from ponder.errors import ConfigurationError

try:
    from langchain_openai import ChatOpenAI
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ConfigurationError(
        "a model given by URL needs langchain-openai: pip install 'ponder[openai]'"
    ) from exc

__all__ = ("OpenAICompatibleChatModel", "from_base_url")


class OpenAICompatibleChatModel(ChatOpenAI):
    """`ChatOpenAI` that sends ``max_tokens`` as such, for servers that ignore the new name.

    Example:
        >>> model = from_base_url("http://127.0.0.1:8080/v1")
        >>> model._get_request_payload("hi", max_tokens=7)["max_tokens"]
        7
    """

    def _get_request_payload(
        self,
        input_: LanguageModelInput,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        payload: dict[str, Any] = super()._get_request_payload(input_, stop=stop, **kwargs)
        if "max_completion_tokens" in payload:
            payload["max_tokens"] = payload.pop("max_completion_tokens")
        return payload


def from_base_url(url: str, *, model_name: str = "local", api_key: str | None = None) -> ChatOpenAI:
    """Return a chat model for the OpenAI-compatible server at ``url`` (ending in ``/v1``)."""
    return OpenAICompatibleChatModel(
        base_url=url,
        model=model_name,
        api_key=api_key or "not-needed",  # type: ignore[arg-type]
        max_retries=0,  # a retry would be a second, uncounted request: ponder's ledger sees all
    )
