"""N samples of one prompt from any chat model, drawn the cheapest way the model allows.

- The embedded model: one batched decode (`EmbeddedChatModel.agenerate_n`); the prompt is
  decoded once, and each sample is charged as a separate call would be.
- A model with the OpenAI ``n`` parameter (``ChatOpenAI`` and `OpenAICompatibleChatModel`):
  one request asking for ``n`` choices, the prompt billed once. Some servers accept ``n``
  and return fewer choices without an error (llama.cpp's server returns one): the missing
  samples are then drawn by separate concurrent requests, never silently dropped.
- Any other LangChain chat model: ``n`` concurrent calls.

Concurrent calls are limited by ``max_concurrency``. The result, a `SampleSet`, says how
many samples each way produced and what they cost in all.

Example:
    >>> from ponder.testing import ScriptedChatModel
    >>> samples = sample_n(ScriptedChatModel(replies=["4", "5"]), "2 + 2?", 3)
    >>> [m.text for m in samples.messages], samples.calls
    (['4', '5', '4'], 3)
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage

from ponder._sync import run_sync
from ponder.errors import ConfigurationError, ModelError
from ponder.models.embedded import EmbeddedChatModel

__all__ = ("SampleSet", "asample_n", "sample_n")


@dataclass(frozen=True, kw_only=True, slots=True)
class SampleSet:
    """N samples of one prompt, and how they were drawn and what they cost."""

    messages: list[AIMessage]
    """The samples, as many as were asked for."""
    from_n: int
    """Samples that came from one request with the ``n`` parameter (0 when not used)."""
    from_calls: int
    """Samples drawn by separate calls (all of them, or those an ``n`` request left out)."""
    calls: int
    """Requests made (an ``n`` request counts once)."""
    input_tokens: int
    """Prompt tokens charged in all (the prompt once for an ``n`` request)."""
    output_tokens: int
    """Generated tokens charged in all."""


def _usage(message: BaseMessage) -> tuple[int, int]:
    usage = getattr(message, "usage_metadata", None)
    if not usage:
        return 0, 0
    return int(usage["input_tokens"]), int(usage["output_tokens"])


def _as_messages(prompt: LanguageModelInput, model: BaseChatModel) -> list[BaseMessage]:
    return list(model._convert_input(prompt).to_messages())


def _supports_n(model: BaseChatModel) -> bool:
    return "n" in type(model).model_fields


async def asample_n(
    model: BaseChatModel,
    prompt: LanguageModelInput,
    n: int,
    *,
    max_concurrency: int = 8,
    use_n: bool | None = None,
    seed: int | None = None,
    **kwargs: Any,
) -> SampleSet:
    """Draw ``n`` samples of ``prompt`` from ``model``; see the module docstring.

    Args:
        model: Any LangChain chat model.
        prompt: What ``model.invoke`` accepts.
        n: Samples wanted.
        max_concurrency: Most requests in flight at once.
        use_n: Ask for ``n`` choices in one request; by default when the model has an
            ``n`` parameter.
        seed: Base seed: separate call ``i`` gets ``seed + i``; an ``n`` request gets ``seed``.
        **kwargs: Call options (``max_tokens``, ``temperature``, ``stop``, ...).

    Raises:
        ConfigurationError: ``n`` or ``max_concurrency`` is below 1.
        ModelError: A request failed.
    """
    if n < 1 or max_concurrency < 1:
        raise ConfigurationError(
            f"n and max_concurrency must be at least 1, got {n}, {max_concurrency}"
        )
    messages = _as_messages(prompt, model)
    if isinstance(model, EmbeddedChatModel):
        seeds = None if seed is None else [seed + i for i in range(n)]
        drawn = await model.agenerate_n(messages, n, seeds=seeds, **kwargs)
        usage = [_usage(m) for m in drawn]
        return SampleSet(
            messages=drawn, from_n=0, from_calls=n, calls=n,
            input_tokens=sum(u[0] for u in usage), output_tokens=sum(u[1] for u in usage),
        )  # fmt: skip
    first: list[AIMessage] = []
    calls = tokens_in = tokens_out = 0
    if n > 1 and (_supports_n(model) if use_n is None else use_n):
        options = dict(kwargs) if seed is None else {**kwargs, "seed": seed}
        try:
            result = await model.agenerate([messages], n=n, **options)
        except Exception as exc:  # a model may raise anything
            raise ModelError(f"the request for {n} samples failed: {exc}") from exc
        calls = 1
        replies = [getattr(g, "message", None) for g in result.generations[0]]
        first = [m for m in replies if isinstance(m, AIMessage)][:n]
        billed: dict[str, Any] = (result.llm_output or {}).get("token_usage") or {}
        if billed:
            tokens_in = int(billed.get("prompt_tokens", 0))
            tokens_out = int(billed.get("completion_tokens", 0))
        elif first:  # every choice carries the whole response's usage: count it once
            tokens_in, tokens_out = _usage(first[0])
    missing = n - len(first)
    slots = asyncio.Semaphore(max_concurrency)

    async def one(index: int) -> AIMessage:
        options = dict(kwargs) if seed is None else {**kwargs, "seed": seed + index}
        async with slots:
            try:
                reply = await model.ainvoke(messages, **options)
            except Exception as exc:  # a model may raise anything
                raise ModelError(f"a sample request failed: {exc}") from exc
        return AIMessage(
            content=reply.content,
            usage_metadata=getattr(reply, "usage_metadata", None),
            response_metadata=dict(reply.response_metadata),
        )

    rest = list(await asyncio.gather(*(one(len(first) + i) for i in range(missing))))
    for message in rest:
        got_in, got_out = _usage(message)
        tokens_in, tokens_out = tokens_in + got_in, tokens_out + got_out
    return SampleSet(
        messages=first + rest, from_n=len(first), from_calls=missing, calls=calls + missing,
        input_tokens=tokens_in, output_tokens=tokens_out,
    )  # fmt: skip


def sample_n(
    model: BaseChatModel,
    prompt: LanguageModelInput,
    n: int,
    *,
    max_concurrency: int = 8,
    use_n: bool | None = None,
    seed: int | None = None,
    **kwargs: Any,
) -> SampleSet:
    """Sync `asample_n`."""
    return run_sync(
        asample_n(
            model, prompt, n, max_concurrency=max_concurrency, use_n=use_n, seed=seed, **kwargs
        ),
        name="sample_n",
    )
