"""What ponder needs to know about a chat model, worked out once per run.

`traits_of` looks at a model once: how it wants its prompts, how its prompt tokens are
counted (`ponder.models.token_count`), how it is given a call's output cap, temperature and
seed (`ponder.models.call_fields`), whether it takes a ``seed`` and a ``timeout`` with each
call, and whether it runs in this process. The run context (`ponder.context.RunContext`)
holds the answer, so no node asks again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import get_args

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage

from ponder.models.call_fields import CallFields, fields_of, output_cap_field
from ponder.models.embedded import EmbeddedChatModel, EmbeddedName
from ponder.models.token_count import TokenCount, byte_bound, counter_of
from ponder.prompts import PromptStyle

__all__ = ("ModelTraits", "traits_of")

_STREAMS_USAGE = frozenset({"ChatOllama"})
"""Classes without a ``stream_usage`` field whose streamed replies end with their usage."""


@dataclass(frozen=True, kw_only=True, slots=True)
class ModelTraits:
    """How ponder calls one model.

    Example:
        >>> from ponder.testing import ScriptedChatModel
        >>> traits = traits_of(ScriptedChatModel(replies=["4"]))
        >>> traits.prompt_style, traits.exact_tokens, traits.takes_seed, traits.in_process
        ('chat', False, True, False)
        >>> traits.token_count, traits.cap_field, sorted(traits.call_fields)
        ('bytes', 'max_tokens', [])
    """

    prompt_style: PromptStyle
    """``base`` for base models (completion prompts), else ``chat``."""
    exact_tokens: bool
    """Whether prompt tokens are counted by the model's own tokenizer (else bounded)."""
    takes_seed: bool
    """Whether each call is sent its ``seed`` (so a rerun repeats its samples)."""
    takes_timeout: bool
    """Whether the model cuts a call off at its own deadline (``timeout=`` per call)."""
    in_process: bool
    """Whether the model runs in this process (its deadline is kept with a little grace)."""
    counter: Callable[[Sequence[BaseMessage]], int] | None = None
    """The model's own prompt-token counter, when it has one (`token_count`)."""
    token_count: TokenCount = "bytes"
    """How prompts are counted: the embedded ``tokenizer``, the ``model``'s own counter, or
    the ``bytes`` bound (`ponder.models.token_count`)."""
    cap_field: str = "max_tokens"
    """The name the model takes its output cap by (`ponder.models.call_fields`)."""
    call_fields: CallFields = frozenset()
    """The call settings set as the model's own fields on a copy made per call, not passed
    as invoke keywords (`ponder.models.call_fields.bind_call`)."""
    spec: str | None = None
    """The model spec that makes this model again (an embedded model's name), if any."""
    context_window: int | None = None
    """The most tokens a prompt may have, where the model says (an embedded model's)."""
    parameters: Callable[[], int | None] | None = None
    """Counts the model's parameters, for the FLOPs estimate (`flops`): the embedded model
    reads its count from llama.cpp (when it first loads), another model says it with a
    ``parameters`` field (`ponder.models.openai_compat.from_base_url`'s ``parameters=``,
    ``ScriptedChatModel(parameters=...)``); ``None`` when unknown."""
    native_async: bool = True
    """Whether the model has async calls of its own. One with only a sync ``_generate`` is
    called on a daemon thread of ponder's, so that a call cut off at its deadline is
    abandoned instead of holding up the run's end."""

    stops_on_confidence: bool = False
    """Whether a call can be sent a ``min_confidence`` floor that ends its sample early (the
    embedded model's batched path)."""

    streams: bool = False
    """Whether calls are streamed (a model with a ``stream_usage`` field, such as
    ``ChatOpenAI``, or ``ChatOllama``: their streamed replies report usage), so that a reply
    running past its output cap is cut there (see `ponder.nodes._calls`)."""

    def flops(self, processed_tokens: int) -> float | None:
        """Estimate a call's FLOPs: about 2 x parameters x tokens processed.

        ``None`` when the parameters are unknown. A cached prompt prefix is not processed
        again, so the caller leaves it out of ``processed_tokens``.

        Example:
            >>> from ponder.testing import ScriptedChatModel
            >>> traits_of(ScriptedChatModel(replies=["4"], parameters=1000)).flops(30)
            60000.0
            >>> traits_of(ScriptedChatModel(replies=["4"])).flops(30) is None
            True
        """
        count = None if self.parameters is None else self.parameters()
        return None if count is None else 2.0 * count * processed_tokens

    def prompt_tokens(self, messages: Sequence[BaseMessage]) -> int:
        """Return the prompt's planned tokens: the model's count where it counts, else a bound.

        See `ponder.models.token_count`; the bound is the prompt's UTF-8 bytes plus the chat
        template's allowances.
        """
        if self.counter is not None:
            return self.counter(messages)
        return byte_bound(messages)


def traits_of(model: BaseChatModel) -> ModelTraits:
    """Return how ponder calls ``model`` (see `ModelTraits`).

    A model takes a seed when it is an embedded model, declares ``accepts_seed = True``
    (ponder's test doubles), or has a ``seed`` field (``ChatOpenAI`` and its kin).
    """
    embedded = isinstance(model, EmbeddedChatModel)
    style = getattr(model, "prompt_style", "chat")
    fields = getattr(type(model), "model_fields", {})
    counter = (
        model.count_prompt_tokens if isinstance(model, EmbeddedChatModel) else counter_of(model)
    )
    names = {cls.__name__ for cls in type(model).__mro__}
    return ModelTraits(
        prompt_style="base" if style == "base" else "chat",
        exact_tokens=embedded,
        takes_seed=embedded or bool(getattr(model, "accepts_seed", False)) or "seed" in fields,
        takes_timeout=embedded,
        in_process=embedded,
        counter=counter,
        token_count="tokenizer" if embedded else "bytes" if counter is None else "model",
        cap_field=output_cap_field(type(model)),
        call_fields=frozenset() if embedded else fields_of(type(model)),  # it takes keywords
        spec=model.model_name
        if isinstance(model, EmbeddedChatModel) and model.model_name in get_args(EmbeddedName)
        else None,
        context_window=model.n_ctx if isinstance(model, EmbeddedChatModel) else None,
        parameters=_parameters_of(model),
        native_async=type(model)._agenerate is not BaseChatModel._agenerate,
        stops_on_confidence=(isinstance(model, EmbeddedChatModel) and model.batched)
        or bool(getattr(model, "accepts_min_confidence", False)),
        streams=not embedded
        and ("stream_usage" in fields or bool(names & _STREAMS_USAGE))
        and type(model)._astream is not BaseChatModel._astream,
    )


def _parameters_of(model: BaseChatModel) -> Callable[[], int | None] | None:
    """The model's parameter counter: the embedded model's own, else a declared count.

    A declared count is a ``parameters`` attribute holding a positive whole number (ponder's
    own model classes have the field); anything else is unknown.
    """
    if isinstance(model, EmbeddedChatModel):
        return model.count_parameters
    declared = getattr(model, "parameters", None)
    if isinstance(declared, bool) or not isinstance(declared, int) or declared <= 0:
        return None
    return lambda: declared
