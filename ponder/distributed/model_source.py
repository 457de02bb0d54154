"""The model of a many-problem job, as the driver gives it and each worker builds it.

A worker of a Ray job is another process, maybe on another machine: it gets the job's model
as data. A model spec (``"smollm2"``, ``"http://host:8080/v1"``) or a zero-argument function
returning a chat model travels anywhere; a model object travels only if it pickles (many
do not: `ponder.testing.ScriptedChatModel` holds a lock). Each worker builds its model once,
when it opens the job, so the embedded model is loaded once per worker.

Example:
    >>> from ponder.testing import ScriptedChatModel
    >>> build_model(lambda: ScriptedChatModel(replies=["4"])).invoke("2 + 2?").content
    '4'
"""

from __future__ import annotations

from collections.abc import Callable

from langchain_core.language_models import BaseChatModel

from ponder.models.resolve import resolve_model

__all__ = ("ModelSource", "build_model", "model_label")

ModelSource = BaseChatModel | Callable[[], BaseChatModel] | str | None
"""A chat model, a zero-argument function returning one, a model spec, or ``None`` (the
embedded model)."""


def build_model(source: ModelSource) -> BaseChatModel:
    """Return the chat model ``source`` gives (a function is called, a spec resolved).

    Raises:
        ConfigurationError: An unknown model spec.
    """
    if isinstance(source, BaseChatModel):
        return source
    if callable(source):
        return source()
    return resolve_model(source)


def model_label(model: BaseChatModel) -> str:
    """A model's short name, for reports and job ids."""
    return str(getattr(model, "model_name", None) or type(model).__name__)
