"""Server-sent events in OpenAI's chunk format, with ponder's progress inside.

A streamed reply (``stream: true``) is a sequence of ``data: <chat.completion.chunk>`` events
ending with ``data: [DONE]``:

1. a first chunk with ``delta: {"role": "assistant", "content": ""}`` and
   ``ponder: {"event": "run", "run_id", "strategy", ...}``;
2. while the run goes on, one chunk per candidate drawn or judged, whose delta is an empty
   content string (``""``: a standard client appends nothing) and whose ``ponder`` field
   is the progress: ``{"event": "candidate", "phase": <node>, "candidate": {...},
   "votes": {...}}``;
3. the reply's text as content deltas, in pieces of about `DELTA_CHARS` characters;
4. a last chunk with the ``finish_reason`` and ``ponder: {"event": "end", ...}`` (status,
   answer, votes, usage, as in a non-streamed reply);
5. with ``stream_options: {"include_usage": true}``, a chunk with no choices and the usage,
   as OpenAI sends it.

Progress rides in chunks rather than in named SSE events because the official ``openai``
client parses every event's data as a chunk, named or not; SSE comments it would skip, but
then ponder's own client could not read them either. A client reads the progress from
``chunk.ponder`` (``chunk.model_extra["ponder"]``). A run that fails once the stream has
begun ends with ``data: {"error": {...}}``, which the ``openai`` client raises as an
``APIError``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

from ponder.state import Candidate

__all__ = (
    "DELTA_CHARS",
    "DONE",
    "candidate_summary",
    "chunk",
    "event",
    "text_pieces",
)

DELTA_CHARS = 32
"""About how many characters each content delta of the reply holds."""

DONE = b"data: [DONE]\n\n"
"""The event that ends a stream."""


def event(data: dict[str, Any]) -> bytes:
    """One SSE ``data:`` event holding ``data`` as JSON (one line: JSON escapes newlines)."""
    return b"data: " + json.dumps(data, separators=(",", ":")).encode("utf-8") + b"\n\n"


def chunk(
    completion_id: str,
    model: str,
    *,
    delta: dict[str, Any] | None,
    finish_reason: str | None = None,
    ponder: dict[str, Any] | None = None,
    usage: dict[str, int] | None = None,
    created: int | None = None,
) -> dict[str, Any]:
    """A ``chat.completion.chunk``; ``delta=None`` gives one without choices (the usage's)."""
    body: dict[str, Any] = {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": int(time.time()) if created is None else created,
        "model": model,
        "choices": []
        if delta is None
        else [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}],
    }
    if usage is not None:
        body["usage"] = usage
    if ponder is not None:
        body["ponder"] = ponder
    return body


def text_pieces(text: str, size: int = DELTA_CHARS) -> Iterator[str]:
    """Cut ``text`` into pieces of about ``size`` characters, at spaces where possible.

    Example:
        >>> list(text_pieces("The answer is 42.", size=8))
        ['The ', 'answer ', 'is 42.']
    """
    start = 0
    while start < len(text):
        end = min(len(text), start + size)
        if end < len(text):
            space = text.rfind(" ", start, end)
            if space > start:
                end = space + 1
        yield text[start:end]
        start = end


def candidate_summary(candidate: Candidate) -> dict[str, Any]:
    """What a progress chunk tells of a candidate (its text is left to the viewer)."""
    return {
        "id": candidate["id"],
        "parent_id": candidate["parent_id"],
        "kind": candidate["kind"],
        "answer": candidate["answer"],
        "score": candidate["score"],
        "verdict": candidate["verdict"],
        "tokens": candidate["tokens_in"] + candidate["tokens_out"],
        "finish_reason": candidate["finish_reason"],
    }
