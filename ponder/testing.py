"""Test doubles: a scripted chat model for unit tests of graph logic.

`ScriptedChatModel` replies from a list (cycled) or a function, reports ``usage_metadata``
(one token per whitespace-separated word, the output cut at ``max_tokens``), honours a
per-call delay, raises any `Exception` found in its script, and records every call.

Example:
    >>> model = ScriptedChatModel(replies=["The answer is 4.", RuntimeError("boom")])
    >>> model.invoke("2 + 2?").content
    'The answer is 4.'
    >>> model.invoke("2 + 2?")
    Traceback (most recent call last):
    ...
    RuntimeError: boom
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from langchain_core.callbacks import (
    AsyncCallbackManagerForLLMRun,
    CallbackManagerForLLMRun,
)
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import ConfigDict, Field, PrivateAttr

from ponder.models.confidence import WINDOW

__all__ = ("Reply", "ScriptedChatModel")

Reply = str | Exception
"""One scripted reply: text to return, or an exception to raise."""


class ScriptedChatModel(BaseChatModel):
    """A chat model that answers from a script; for tests of graph logic, never of quality."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    accepts_seed: ClassVar[bool] = True
    """Each call is sent its seed (recorded in `calls`), as the embedded model is."""
    accepts_min_confidence: ClassVar[bool] = True
    """Each call may be sent a confidence floor, as the embedded model's batched path is: a
    reply of at least 16 words whose scripted confidence (minus `logprob_fn`) is below it
    is cut after 16 words with ``finish_reason`` ``low_confidence``."""

    replies: Sequence[Reply] = ()
    """Replies in order, cycled when exhausted."""
    reply_fn: Callable[[list[BaseMessage], dict[str, Any]], Reply] | None = None
    """Computes a reply from the messages and the call's keyword options (wins over
    `replies`)."""
    delay: float = 0.0
    """Seconds each call takes."""
    report_usage: bool = True
    """Whether replies carry ``usage_metadata``."""
    logprob_fn: Callable[[str], float] | None = None
    """Scripted confidence: the log-probability of every word of a reply, given the reply;
    replies then carry OpenAI-style ``logprobs`` (each word's top log-probability the same)."""
    parameters: int | None = Field(default=None, gt=0)
    """A parameter count to claim, so that runs estimate FLOPs (`ponder.result.RunResult.flops`);
    ``None``: unknown, as for most remote models."""
    calls: list[dict[str, Any]] = Field(default_factory=list)
    """Every call's keyword options (``max_tokens``, ``temperature``, ...), in order."""
    _cursor: Any = PrivateAttr(default=None)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @property
    def _llm_type(self) -> str:
        return "ponder-scripted"

    def _next(self, messages: list[BaseMessage], kwargs: dict[str, Any]) -> Reply:
        with self._lock:
            self.calls.append(dict(kwargs))
            if self.reply_fn is not None:
                return self.reply_fn(messages, kwargs)
            if not self.replies:
                raise ValueError("ScriptedChatModel has no replies")
            if self._cursor is None:
                self._cursor = itertools.cycle(self.replies)
            reply: Reply = next(self._cursor)
            return reply

    def _result(
        self, messages: list[BaseMessage], reply: Reply, kwargs: dict[str, Any]
    ) -> ChatResult:
        if isinstance(reply, Exception):
            raise reply
        words = reply.split()
        cap = kwargs.get("max_tokens")
        finish = "stop"
        if cap is not None and len(words) > cap:
            words, finish = words[:cap], "length"
            reply = " ".join(words)
        floor = kwargs.get("min_confidence")
        if self.logprob_fn is not None and floor is not None and len(words) >= WINDOW:
            if -self.logprob_fn(reply) < floor:
                words, finish = words[:WINDOW], "low_confidence"
                reply = " ".join(words)
        prompt_words = sum(len(m.text.split()) for m in messages)
        usage = (
            {
                "input_tokens": prompt_words,
                "output_tokens": len(words),
                "total_tokens": prompt_words + len(words),
            }
            if self.report_usage
            else None
        )
        metadata: dict[str, Any] = {"finish_reason": finish}
        if self.logprob_fn is not None:
            value = self.logprob_fn(reply)
            metadata["logprobs"] = {
                "content": [
                    {"token": word, "logprob": value, "top_logprobs": [{"logprob": value}]}
                    for word in words
                ]
            }
        message = AIMessage(content=reply, usage_metadata=usage, response_metadata=metadata)
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        reply = self._next(messages, kwargs)
        if self.delay:
            time.sleep(self.delay)
        return self._result(messages, reply, kwargs)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        reply = self._next(messages, kwargs)
        if self.delay:
            await asyncio.sleep(self.delay)
        return self._result(messages, reply, kwargs)
