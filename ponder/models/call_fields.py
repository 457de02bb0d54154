"""How each chat model is given a call's output cap, temperature and seed.

LangChain chat models do not agree on the name of the output cap, and many do not take it as
an invoke keyword at all: ``ChatOllama`` passes every unknown keyword on to its client, which
raises ``TypeError`` before anything is sent. So ponder sets a call's settings as the model's
own fields, on a shallow copy made for that call (`bind_call`), wherever the class has them,
and passes the rest as invoke keywords.

The cap's field is found in this order:

1. `register_output_cap` (or a ``ponder_output_cap`` class attribute on a class of your own);
2. `OUTPUT_CAP_FIELDS`, by the name of the model's class or of a class it derives from;
3. the first of ``max_tokens``, ``max_output_tokens``, ``num_predict``, ``max_new_tokens``
   that the class has as a field;
4. else ``max_tokens`` as an invoke keyword (LangChain's convention).

``temperature`` and ``seed`` are set as fields where the class has them, else passed as
keywords (``seed`` only to a model that takes one: `ponder.models.traits.ModelTraits`). The
embedded model and ponder's test doubles take every setting as a keyword.

Whatever the model does with its cap, a streamed reply is still cut at the first chunk past
it (`ponder.nodes._calls`), and a reply longer than its cap fails the run as an overrun.

Example:
    >>> from langchain_ollama import ChatOllama
    >>> settings = {"max_tokens": 64, "temperature": 0.7}
    >>> model, kwargs = bind_call(
    ...     ChatOllama(model="qwen3"), settings, cap_field="num_predict",
    ...     fields=fields_of(ChatOllama),
    ... )
    >>> model.num_predict, model.temperature, kwargs
    (64, 0.7, {})
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from langchain_core.language_models import BaseChatModel

from ponder.errors import ConfigurationError

__all__ = (
    "OUTPUT_CAP_FIELDS",
    "CallFields",
    "bind_call",
    "fields_of",
    "output_cap_field",
    "register_output_cap",
)

OUTPUT_CAP_FIELDS: Mapping[str, str] = MappingProxyType(
    {
        "ChatOpenAI": "max_tokens",  # sent as max_completion_tokens (as max_tokens by URL)
        "AzureChatOpenAI": "max_tokens",
        "ChatAnthropic": "max_tokens",
        "ChatOllama": "num_predict",
        "ChatGoogleGenerativeAI": "max_output_tokens",
        "ChatVertexAI": "max_output_tokens",
        "ChatMistralAI": "max_tokens",
        "ChatGroq": "max_tokens",
        "ChatBedrockConverse": "max_tokens",
        "ChatHuggingFace": "max_tokens",
    }
)
"""The output cap's field, by chat-model class name (see the module docstring)."""

_COMMON_CAP_FIELDS = ("max_tokens", "max_output_tokens", "num_predict", "max_new_tokens")
_registered: dict[str, str] = {}

CallFields = frozenset[str]
"""The names of the call settings a model takes as its own fields (the rest are keywords)."""


def register_output_cap(model_class: type[BaseChatModel] | str, field: str) -> None:
    """Say which field of ``model_class`` (a class or its name) holds the output cap.

    For a chat model ponder does not know whose cap field it cannot guess. It applies to the
    runs started after it, and to subclasses.

    Raises:
        ConfigurationError: ``field`` is not an identifier.
    """
    if not isinstance(field, str) or not field.isidentifier():
        raise ConfigurationError(f"an output cap field must be a field name, got {field!r}")
    name = model_class if isinstance(model_class, str) else model_class.__name__
    _registered[name] = field


def output_cap_field(model_class: type[BaseChatModel]) -> str:
    """Return the name the output cap goes by for ``model_class`` (module docstring)."""
    own = getattr(model_class, "ponder_output_cap", None)
    if isinstance(own, str) and own:
        return own
    for cls in model_class.__mro__:
        if cls.__name__ in _registered:
            return _registered[cls.__name__]
    for cls in model_class.__mro__:
        if cls.__name__ in OUTPUT_CAP_FIELDS:
            return OUTPUT_CAP_FIELDS[cls.__name__]
    fields = getattr(model_class, "model_fields", {})
    return next((name for name in _COMMON_CAP_FIELDS if name in fields), "max_tokens")


def fields_of(model_class: type[BaseChatModel]) -> CallFields:
    """Return the call settings (by their names for this class) set as ``model_class`` fields.

    ``stream_usage`` is among them where the class has it, so that a streamed reply
    reports its usage.
    """
    fields = getattr(model_class, "model_fields", {})
    wanted = (output_cap_field(model_class), "temperature", "seed", "stream_usage")
    return frozenset(name for name in wanted if name in fields)


def bind_call(
    model: BaseChatModel, settings: Mapping[str, Any], *, cap_field: str, fields: CallFields
) -> tuple[BaseChatModel, dict[str, Any]]:
    """Return the model to call and the invoke keywords for one call's ``settings``.

    ``settings`` names the cap ``max_tokens`` (ponder's name); it goes out as ``cap_field``
    (`output_cap_field`). The settings in ``fields`` (`fields_of`) are set on a shallow copy of
    the model (its HTTP clients shared); the others are returned as keywords.
    """
    named = dict(settings)
    if "max_tokens" in named and cap_field != "max_tokens":
        named[cap_field] = named.pop("max_tokens")
    if not fields:
        return model, named
    if "stream_usage" in fields:
        named["stream_usage"] = True
    update = {key: value for key, value in named.items() if key in fields}
    kwargs = {key: value for key, value in named.items() if key not in fields}
    return model.model_copy(update=update), kwargs
