"""What `ponder serve` reads and writes: the chat-completion request, and the bodies it returns.

The request is OpenAI's ``POST /v1/chat/completions`` body. What ponder reads of it:

- ``model``: ``ponder-<strategy>`` (``ponder-self-consistency``, ``ponder-adaptive``, ...),
  optionally ``ponder-<strategy>/<upstream>`` where ``<upstream>`` is a model spec the server
  allows (see `ponder.serve.app.create_app`); without one, the server's own model;
- ``messages``: the question is the last message, which must come from the user; system
  messages and earlier turns are not sent to the model (every strategy writes its own
  prompts), and the reply says how many were left out (``ponder.ignored_messages``);
- ``max_tokens`` (or ``max_completion_tokens``): the run's *output-token* budget, across
  every candidate, judge and critique (``Budget.output_tokens``), not one reply's length;
- ``seed``: the run's base sampling seed (0 by default);
- ``stream``, ``stream_options.include_usage``: server-sent events (`ponder.serve.streaming`);
- ``n`` must be 1; other sampling fields (``temperature``, ``top_p``, ``stop``, ...) are
  accepted and ignored: sampling is the strategy's (set it in ``ponder.options``).

ponder's own fields come in the extra body field ``ponder`` (`PonderFields`): the budget,
the strategy's options, a verifier, and the id of a run to continue.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ponder.errors import ConfigurationError
from ponder.result import RunResult
from ponder.state import Candidate

__all__ = (
    "MODEL_PREFIX",
    "ChatMessage",
    "ChatRequest",
    "PonderFields",
    "TopUpFields",
    "completion_body",
    "finish_reason",
    "parse_request",
    "reply_text",
    "usage_body",
)

MODEL_PREFIX = "ponder-"
"""What every served model name starts with: ``ponder-<strategy>[/<upstream>]``."""

FinishReason = Literal["stop", "length"]
"""The ``finish_reason`` of a reply.

- ``stop``: the run ended (with or without an answer), or waits for an approval.
- ``length``: the budget ran out: the run is paused, its answer provisional; send the run id
  back with a top-up (``ponder: {run_id, top_up: {tokens: 2000}}``) to go on.
"""


class _Lenient(BaseModel):
    """OpenAI's bodies grow fields: unknown ones are kept, not refused."""

    model_config = ConfigDict(extra="allow")


class ChatMessage(_Lenient):
    """One message of the conversation."""

    role: str
    """``user``, ``system``, ``developer``, ``assistant`` or ``tool``."""
    content: str | list[dict[str, Any]] | None = None
    """The text, or OpenAI's list of content parts (only ``text`` parts are read)."""

    def text(self) -> str:
        """The message's text (its text parts joined).

        Raises:
            ConfigurationError: A part is not text (an image, audio, a file).
        """
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        texts = []
        for part in self.content:
            if part.get("type") != "text" or not isinstance(part.get("text"), str):
                raise ConfigurationError(
                    f"only text content is served, not a {part.get('type')!r} part"
                )
            texts.append(part["text"])
        return "\n".join(texts)


class TopUpFields(BaseModel):
    """What to add to a paused run's budget (``ponder.top_up``); see `ponder.runs.aresume`."""

    model_config = ConfigDict(extra="forbid")

    tokens: int | None = None
    """Input plus output tokens to add."""
    calls: int | None = None
    """Model calls to add."""
    seconds: float | None = None
    """Wall seconds to add."""
    cost: float | None = None
    """Money to add."""


class PonderFields(BaseModel):
    """ponder's own part of a request: the ``ponder`` field of the body.

    Example:
        >>> PonderFields.model_validate({"budget": {"tokens": 2000}, "options": {"max_samples": 4}})
        PonderFields(budget={'tokens': 2000}, options={'max_samples': 4}, verifier=None, extractor=None, run_id=None, top_up=None, approve=None)
    """  # noqa: E501 - a doctest's expected line

    model_config = ConfigDict(extra="forbid")

    budget: dict[str, Any] | None = None
    """The run's limits, as `ponder.Budget.from_limits` takes them (``tokens``,
    ``output_tokens``, ``calls``, ``seconds``, ``cost`` with ``price_in``/``price_out``);
    `ponder.api.DEFAULT_BUDGET` (4,000 tokens) when left out. ``max_tokens`` adds an
    ``output_tokens`` limit to it."""
    options: dict[str, Any] = Field(default_factory=dict)
    """The strategy's options (``ponder strategies --json`` lists them), as plain data."""
    verifier: dict[str, Any] | None = None
    """A shipped verifier as plain data: ``{"expected": "42", "kind": "number"}`` or
    ``{"math": "1/2"}`` (needed by ``ponder-best-of-n``); see `ponder.verify.record`."""
    extractor: str | None = None
    """A shipped answer extractor by name (``extract_repaired_number``, the default,
    ``extract_number``, ``extract_short_answer``, ``extract_code``)."""
    run_id: str | None = None
    """Continue this run (paused or interrupted) instead of starting one; the messages are
    then not read: the run has its problem."""
    top_up: TopUpFields | None = None
    """With ``run_id``: what to add to a run paused for lack of budget."""
    approve: bool | None = None
    """With ``run_id``: the answer to a run waiting for approval of an expensive phase."""


class ChatRequest(_Lenient):
    """The body of ``POST /v1/chat/completions`` (the fields ponder reads)."""

    model: str
    """``ponder-<strategy>[/<upstream>]``."""
    messages: list[ChatMessage] = Field(default_factory=list)
    """The conversation; its last message is the question."""
    max_tokens: int | None = None
    """The run's output-token budget."""
    max_completion_tokens: int | None = None
    """The same (OpenAI's newer name); the smaller wins when both are given."""
    seed: int | None = None
    """The run's base sampling seed."""
    n: int | None = None
    """Replies wanted: only 1."""
    stream: bool = False
    """Reply with server-sent events."""
    stream_options: dict[str, Any] | None = None
    """``{"include_usage": true}``: a last chunk with the usage (and no choices)."""
    ponder: PonderFields = Field(default_factory=PonderFields)
    """ponder's own fields."""

    def output_cap(self) -> int | None:
        """The output-token budget ``max_tokens``/``max_completion_tokens`` ask for."""
        caps = [c for c in (self.max_tokens, self.max_completion_tokens) if c is not None]
        return min(caps) if caps else None

    def question(self) -> tuple[str, int]:
        """The question (the last message) and how many messages before it are left out.

        Raises:
            ConfigurationError: No messages, or the last is not the user's or has no text.
        """
        if not self.messages:
            raise ConfigurationError("messages is empty: send the question as a user message")
        last = self.messages[-1]
        if last.role != "user":
            raise ConfigurationError(
                f"the last message must be the user's question, not a {last.role!r} message"
            )
        text = last.text()
        if not text.strip():
            raise ConfigurationError("the last user message is empty: send the question")
        return text, len(self.messages) - 1


def parse_request(body: object) -> ChatRequest:
    """Read a request body (decoded JSON) into a `ChatRequest`.

    Raises:
        ConfigurationError: It is not a chat-completion request ponder can serve; the
            message names the first field at fault.

    Example:
        >>> parse_request({"model": "ponder-self-consistency", "messages": [], "n": 2})
        Traceback (most recent call last):
        ...
        ponder.errors.ConfigurationError: n must be 1: a run gives one reply (its candidates are in the ponder field)
    """  # noqa: E501 - a doctest's expected line
    if not isinstance(body, dict):
        raise ConfigurationError("the body must be a JSON object (a chat-completion request)")
    try:
        request = ChatRequest.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise ConfigurationError(f"{where}: {first['msg']}") from None
    if request.n not in (None, 1):
        raise ConfigurationError(
            "n must be 1: a run gives one reply (its candidates are in the ponder field)"
        )
    for name, cap in (
        ("max_tokens", request.max_tokens),
        ("max_completion_tokens", request.max_completion_tokens),
    ):
        if cap is not None and cap <= 0:
            raise ConfigurationError(f"{name} must be a positive whole number, got {cap}")
    return request


def _path_text(candidate: Candidate, candidates: list[Candidate]) -> str:
    """A tree-search step's solution: the texts of the steps from the root to it."""
    by_id = {c["id"]: c for c in candidates}
    steps: list[str] = []
    current: Candidate | None = candidate
    while current is not None and len(steps) <= len(candidates):
        steps.append(current["text"].strip())
        current = by_id.get(current["parent_id"]) if current["kind"] == "step" else None
    return "\n".join(reversed(steps))


def reply_text(result: RunResult) -> str:
    """The content of a run's reply: the text of the candidate that gave its answer.

    Among the candidates whose answer is the run's, the best-scored (the first drawn when
    none is scored); a tree-search step's text is its whole path from the root. A run
    without an answer replies with its last candidate's text, or nothing.
    """
    candidates = result.candidates
    giving = [c for c in candidates if result.answer is not None and c["answer"] == result.answer]
    if giving:
        chosen = max(giving, key=lambda c: -1.0 if c["score"] is None else c["score"])
    elif candidates:
        chosen = candidates[-1]
    else:
        return ""
    if chosen["kind"] == "step":
        return _path_text(chosen, candidates)
    return chosen["text"].strip()


def finish_reason(result: RunResult) -> FinishReason:
    """``length`` for a run paused by its budget, else ``stop`` (see `FinishReason`)."""
    return "length" if result.status == "paused" and result.stop_reason == "budget" else "stop"


def usage_body(tokens_in: int, tokens_out: int) -> dict[str, int]:
    """OpenAI's ``usage`` object."""
    return {
        "prompt_tokens": tokens_in,
        "completion_tokens": tokens_out,
        "total_tokens": tokens_in + tokens_out,
    }


def completion_body(
    *,
    completion_id: str,
    model: str,
    result: RunResult,
    ponder: dict[str, Any],
    usage: dict[str, int],
) -> dict[str, Any]:
    """The ``chat.completion`` object of a finished (or paused) run."""
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": reply_text(result)},
                "finish_reason": finish_reason(result),
                "logprobs": None,
            }
        ],
        "usage": usage,
        "ponder": ponder,
    }
