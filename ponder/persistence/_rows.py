"""Small helpers shared by the SQL store and the delta walk: keys, configs, batches, writes."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import PendingWrite, writes_sort_key
from langgraph.checkpoint.serde.base import SerializerProtocol

from ponder.errors import ConfigurationError

__all__ = (
    "BATCH",
    "address",
    "checkpoint_config",
    "chunks",
    "key",
    "ordered_writes",
)

T = TypeVar("T")

BATCH = 500
"""Most values bound in one ``IN (...)`` list: far below SQLite's and asyncpg's limits."""


def chunks(items: Sequence[T], size: int = BATCH) -> Iterator[Sequence[T]]:
    """Yield ``items`` in slices of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def key(value: Any, what: str) -> str:
    """Return ``value`` as a key string (thread id, namespace, channel, ...).

    Keys are stored as text, so they must be valid Unicode without NUL (which PostgreSQL text
    cannot hold); the same rule applies on every backend.

    Raises:
        ConfigurationError: ``value`` is ``None``, holds NUL, or is not encodable as UTF-8.
    """
    if value is None:
        raise ConfigurationError(f"a checkpoint {what} is required, got None")
    text = str(value)
    if "\x00" in text:
        raise ConfigurationError(f"a checkpoint {what} cannot contain NUL characters: {text!r}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ConfigurationError(
            f"a checkpoint {what} must be valid Unicode text (no lone surrogates): {text!r}"
        ) from exc
    return text


def address(config: RunnableConfig) -> tuple[str, str, str | None]:
    """Return ``(thread_id, checkpoint_ns, checkpoint_id)`` from a LangGraph config.

    A missing ``checkpoint_ns`` is the root namespace ``""``; a missing or empty
    ``checkpoint_id`` is ``None`` (the latest checkpoint).

    Raises:
        ConfigurationError: The config has no ``configurable.thread_id``, or a bad key.
    """
    configurable = config.get("configurable") or {}
    if configurable.get("thread_id") is None:
        raise ConfigurationError(
            "a checkpointer config needs configurable.thread_id, e.g. "
            "{'configurable': {'thread_id': 'run-1'}}"
        )
    thread_id = key(configurable["thread_id"], "thread_id")
    checkpoint_ns = key(configurable.get("checkpoint_ns") or "", "checkpoint_ns")
    raw_id = configurable.get("checkpoint_id")
    checkpoint_id = key(raw_id, "checkpoint_id") if raw_id else None
    return thread_id, checkpoint_ns, checkpoint_id


def checkpoint_config(thread_id: str, checkpoint_ns: str, checkpoint_id: str) -> RunnableConfig:
    """Return the config that addresses one stored checkpoint."""
    return {
        "configurable": {
            "thread_id": thread_id,
            "checkpoint_ns": checkpoint_ns,
            "checkpoint_id": checkpoint_id,
        }
    }


def ordered_writes(
    rows: Sequence[Any], serde: SerializerProtocol, *, channel: str | None = None
) -> list[PendingWrite]:
    """Decode write rows of one checkpoint in `writes_sort_key` order.

    Args:
        rows: Rows with ``task_path``, ``task_id``, ``idx``, ``channel``, ``type``, ``blob``.
        serde: The serializer to decode values with.
        channel: Use this channel name instead of a ``channel`` column.
    """
    ordered = sorted(rows, key=lambda row: writes_sort_key(row.task_path, row.task_id, row.idx))
    return [
        (
            row.task_id,
            row.channel if channel is None else channel,
            serde.loads_typed((row.type, row.blob)),
        )
        for row in ordered
    ]
