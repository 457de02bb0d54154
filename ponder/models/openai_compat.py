"""Any OpenAI-compatible server (llama.cpp server, vLLM, OpenAI) through langchain-openai.

`OpenAICompatibleChatModel` is `langchain_openai.ChatOpenAI` with the fixes a local server
needs: the output cap goes out as ``max_tokens`` (langchain-openai renames it
``max_completion_tokens``, which the llama.cpp server ignores), and no key is required.

The API key (`api_key_of`): the one given, else the variable named by ``PONDER_API_KEY_ENV``
(for a server with a key of its own: ``PONDER_API_KEY_ENV=VLLM_API_KEY``), else
``OPENAI_API_KEY`` when set, else a placeholder for servers that take none. A key is never
printed: errors name the variable, not its value.

Several samples of one prompt: `ponder.models.samples.asample_n` asks for ``n`` choices in
one request (the prompt billed once) and draws whatever a server leaves out (llama.cpp's
server accepts ``n`` and returns one choice) by concurrent requests. Inside a run, the
samples of one step are concurrent requests, at most
`ponder.context.RunContext.max_concurrent_calls` at once.
"""

from __future__ import annotations

import os
from typing import Any

from langchain_core.language_models import LanguageModelInput
from pydantic import Field

from ponder.errors import ConfigurationError

try:
    from langchain_openai import ChatOpenAI
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ConfigurationError(
        "a model given by URL needs langchain-openai: pip install 'ponder[openai]'"
    ) from exc

__all__ = ("API_KEY_ENV", "OpenAICompatibleChatModel", "api_key_of", "from_base_url")

API_KEY_ENV = "PONDER_API_KEY_ENV"
"""The environment variable naming the variable that holds a URL spec's API key."""
_NO_KEY = "not-needed"


class OpenAICompatibleChatModel(ChatOpenAI):
    """`ChatOpenAI` that sends ``max_tokens`` as such, for servers that ignore the new name.

    Example:
        >>> model = from_base_url("http://127.0.0.1:8080/v1")
        >>> model._get_request_payload("hi", max_tokens=7)["max_tokens"]
        7
    """

    parameters: int | None = Field(default=None, gt=0)
    """The served model's parameter count, when known: runs then estimate their FLOPs
    (`ponder.result.RunResult.flops`). A server does not say it; ``None`` is unknown."""

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


def api_key_of(api_key: str | None = None, *, api_key_env: str | None = None) -> str:
    """Return the API key to send (see the module docstring).

    Args:
        api_key: The key itself, which wins.
        api_key_env: The environment variable holding it (else ``$PONDER_API_KEY_ENV``'s,
            else ``OPENAI_API_KEY``).

    Raises:
        ConfigurationError: A variable named for the key is not set (or is empty).

    Example:
        >>> api_key_of(api_key_env="PONDER_DOCTEST_UNSET")
        Traceback (most recent call last):
        ...
        ponder.errors.ConfigurationError: the API key variable PONDER_DOCTEST_UNSET is not set; set it, or name another one with PONDER_API_KEY_ENV
    """  # noqa: E501
    if api_key:
        return api_key
    named = api_key_env or os.environ.get(API_KEY_ENV) or None
    if named is not None:
        key = os.environ.get(named)
        if not key:
            raise ConfigurationError(
                f"the API key variable {named} is not set; set it, or name another one "
                f"with {API_KEY_ENV}"
            )
        return key
    return os.environ.get("OPENAI_API_KEY") or _NO_KEY


def from_base_url(
    url: str,
    *,
    model_name: str = "local",
    api_key: str | None = None,
    api_key_env: str | None = None,
    logprobs: bool = True,
    http_async_client: Any = None,
    parameters: int | None = None,
) -> ChatOpenAI:
    """Return a chat model for the OpenAI-compatible server at ``url`` (ending in ``/v1``).

    The key is `api_key_of` ``api_key`` and ``api_key_env``. With ``logprobs`` (the
    default) every call asks for token log-probabilities and the 5 most likely tokens at each
    step (``logprobs``/``top_logprobs``, which llama.cpp's server, vLLM and OpenAI's chat
    models give): each candidate then carries its confidence
    (`ponder.models.confidence`) and the confidence votes use it. Pass ``False`` for a
    server that refuses them. ``http_async_client`` (an ``httpx.AsyncClient``) replaces the
    client langchain-openai shares between models of one URL (yours to close).
    ``parameters``, the served model's parameter count if you know it (a server does not
    say), lets runs estimate their FLOPs (`ponder.result.RunResult.flops`).

    Raises:
        ConfigurationError: A variable named for the key is not set, or ``parameters`` is
            not a positive whole number.
    """
    if parameters is not None and (
        isinstance(parameters, bool) or not isinstance(parameters, int) or parameters <= 0
    ):
        raise ConfigurationError(
            f"parameters must be the model's parameter count (a positive whole number), got "
            f"{parameters!r}; leave it out when unknown"
        )
    return OpenAICompatibleChatModel(
        base_url=url,
        model=model_name,
        api_key=api_key_of(api_key, api_key_env=api_key_env),  # type: ignore[arg-type]
        logprobs=logprobs or None,
        top_logprobs=5 if logprobs else None,
        http_async_client=http_async_client,
        parameters=parameters,
        max_retries=0,  # a retry would be a second, uncounted request: ponder's ledger sees all
    )
