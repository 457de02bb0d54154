"""The embedded model, making each distinct call once per bench and replaying it after.

A bench asks the same question of the same model many times: each budget of a strategy
starts with the very calls of the smaller budgets (candidate *i* is always sampled with seed
*i*), and several strategies share their first samples. llama.cpp with a fixed seed is
deterministic, so a call with the same messages, stop sequences, output cap, temperature and
seed gets the same reply: the bench makes it once and replays it, with the usage the model
reported. The latency it took is charged again to every run that replays it
(`ReplayingModel.charged_seconds`), so wall seconds per run are what the run would have taken
without the replay. Calls without a seed are never replayed.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatResult
from pydantic import Field, PrivateAttr

from ponder.models.embedded import EmbeddedChatModel

__all__ = ("ReplayingModel",)


class ReplayingModel(EmbeddedChatModel):
    """An `EmbeddedChatModel` that replays calls it has made before (see the module doc)."""

    replies: dict[Any, tuple[ChatResult, float]] = Field(default_factory=dict)
    """Call key -> (result, seconds the call took)."""
    charged_seconds: float = 0.0
    """Model seconds of every call served, made or replayed."""
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @classmethod
    def wrapping(cls, model: EmbeddedChatModel) -> ReplayingModel:
        """Return a replaying twin of ``model`` (same weights, settings and engine)."""
        return cls(**{name: getattr(model, name) for name in EmbeddedChatModel.model_fields})

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        seed = kwargs.get("seed", self.seed)
        if seed is None:
            started = time.monotonic()
            result = super()._generate(messages, stop, run_manager, **kwargs)
            with self._lock:
                self.charged_seconds += time.monotonic() - started
            return result
        key = (
            tuple((m.type, m.text) for m in messages),
            tuple(stop or ()),
            kwargs.get("max_tokens"),
            kwargs.get("temperature"),
            seed,
            kwargs.get("min_confidence"),
        )
        with self._lock:
            known = self.replies.get(key)
        if known is None:
            started = time.monotonic()
            made = super()._generate(messages, stop, run_manager, **kwargs)
            known = (made, time.monotonic() - started)
            finish = made.generations[0].message.response_metadata.get("finish_reason")
            if finish != "timeout":  # a reply cut off by its deadline is not the reply
                with self._lock:
                    self.replies[key] = known
        result, seconds = known
        with self._lock:
            self.charged_seconds += seconds
        return result
