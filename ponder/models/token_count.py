"""How a prompt's tokens are counted before a call: the model's own counter, else a bound.

Before every call ponder plans the prompt's tokens against the budget (`ponder.budget`). Three
ways, chosen once per model (`counter_of`), the first that applies:

``tokenizer``
    The embedded model counts with its own tokenizer and chat template: exact.
``model``
    The model's class has a counter of its own: it overrides LangChain's
    ``get_num_tokens_from_messages`` (``ChatOpenAI`` with tiktoken, ``ChatAnthropic`` with
    Anthropic's counting endpoint), ``get_num_tokens`` or ``get_token_ids``; or the model was
    given a tokenizer (``custom_get_token_ids``). LangChain's own default (a GPT-2 tokenizer
    through ``transformers``) is not the model's counter and is never used. A class's count is
    what its provider is expected to bill, not a proven bound, so ponder plans with it plus 2%
    and 4 tokens, and a count a token or two short does not end the run as an overrun; a
    tokenizer's count gets the chat-template allowances of the byte bound instead. An
    OpenAI-class model whose base URL is not OpenAI's (a llama.cpp or vLLM server, whose
    tokenizer is not tiktoken's) is counted by bytes. The counter is called as the call is
    planned, on the event loop: a counter that is a request (Anthropic's) holds the loop
    for it.
``bytes``
    Otherwise, and whenever a counter raises or returns no whole number (it is not asked
    again for that run): the UTF-8 bytes of every message plus a per-message and per-prompt
    allowance for the chat template, an upper bound for any byte-level BPE tokenizer (a
    token is at least one byte), about 4-5x the real count of English text.

Counts are remembered for the last prompts seen, so the samples of one prompt ask the
counter once (Anthropic's counter is a request to its API).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Literal

from langchain_core.language_models import BaseChatModel, BaseLanguageModel
from langchain_core.messages import BaseMessage

__all__ = (
    "MESSAGE_OVERHEAD",
    "PROMPT_OVERHEAD",
    "ModelCounter",
    "TokenCount",
    "byte_bound",
    "counter_of",
)

TokenCount = Literal["tokenizer", "model", "bytes"]
"""How a model's prompts are counted (see the module docstring)."""

MESSAGE_OVERHEAD = 8
"""Upper bound on the template tokens a chat format adds per message."""
PROMPT_OVERHEAD = 16
"""Upper bound on the template tokens a chat format adds per prompt."""

_REMEMBERED = 64
_log = logging.getLogger(__name__)


def byte_bound(messages: Sequence[BaseMessage]) -> int:
    """Return the byte bound on a prompt's tokens (see ``bytes`` in the module docstring)."""
    size = sum(len(m.text.encode("utf-8")) + MESSAGE_OVERHEAD for m in messages)
    return size + PROMPT_OVERHEAD


class ModelCounter:
    """A chat model's own prompt counter, with a margin, a memory, and the byte fallback.

    Args:
        count: Counts a prompt's tokens (the model's ``get_num_tokens_from_messages``).
        margin: Whether to add 2% and 4 tokens to each count (the module docstring).
    """

    def __init__(self, count: Callable[[list[BaseMessage]], int], *, margin: bool) -> None:
        self._count: Callable[[list[BaseMessage]], int] | None = count
        self._margin = margin
        self._seen: OrderedDict[tuple[tuple[str, str], ...], int] = OrderedDict()

    @property
    def failed(self) -> bool:
        """Whether the counter failed once (every count is the byte bound since)."""
        return self._count is None

    def __call__(self, messages: Sequence[BaseMessage]) -> int:
        """Return the prompt's planned tokens (the byte bound once the counter has failed)."""
        if self._count is None:
            return byte_bound(messages)
        key = tuple((m.type, repr(m.content)) for m in messages)
        if key in self._seen:
            self._seen.move_to_end(key)
            return self._seen[key]
        try:
            counted = self._count(list(messages))
        except Exception as exc:  # a counter may raise anything: the bound still holds
            _log.warning("the model's token counter failed (%s); counting bytes", exc)
            counted = None
        if isinstance(counted, bool) or not isinstance(counted, int) or counted < 0:
            self._count = None
            return byte_bound(messages)
        if self._margin:
            counted += -(-counted // 50) + 4
        self._seen[key] = counted
        if len(self._seen) > _REMEMBERED:
            self._seen.popitem(last=False)
        return counted


def counter_of(model: BaseChatModel) -> ModelCounter | None:
    """Return the model's own counter (``model`` in the module docstring), if it has one.

    A tokenizer given to the model (``custom_get_token_ids``) comes first: the user knows
    what the server runs.
    """
    cls = type(model)
    tokens: Callable[[str], list[int]] | None = model.custom_get_token_ids
    if tokens is None and _counts_like_its_server(model):
        base = BaseLanguageModel
        if (
            cls.get_num_tokens_from_messages is not base.get_num_tokens_from_messages
            or cls.get_num_tokens is not base.get_num_tokens  # LangChain's counts by it
        ):
            return ModelCounter(model.get_num_tokens_from_messages, margin=True)
        if cls.get_token_ids is not BaseLanguageModel.get_token_ids:
            tokens = model.get_token_ids
    if tokens is None:
        return None
    ids = tokens

    def count(messages: list[BaseMessage]) -> int:
        size = sum(len(ids(m.text)) + MESSAGE_OVERHEAD for m in messages)
        return size + PROMPT_OVERHEAD

    return ModelCounter(count, margin=False)


def _counts_like_its_server(model: BaseChatModel) -> bool:
    """Whether the class's counter counts what the model's server bills.

    An OpenAI-class model counts with tiktoken, which is OpenAI's tokenizer: not that of a
    model behind any other base URL.
    """
    names = {cls.__name__ for cls in type(model).__mro__}
    if "OpenAICompatibleChatModel" in names:
        return False
    if "BaseChatOpenAI" in names and "AzureChatOpenAI" not in names:
        base = getattr(model, "openai_api_base", None)
        return base is None or str(base).rstrip("/").startswith("https://api.openai.com")
    return True
