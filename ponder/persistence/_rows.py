"""Small helpers shared by the SQL store, its SQLite fast path and the delta walk.

Keys, configs, batches, the rows a put writes (`checkpoint_rows`, `write_rows`: one encoding
for every write path) and the order of pending writes.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    WRITES_IDX_MAP,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    PendingWrite,
    get_serializable_checkpoint_metadata,
    writes_sort_key,
)
from langgraph.checkpoint.serde.base import SerializerProtocol

from ponder.errors import ConfigurationError

__all__ = (
    "BATCH",
    "address",
    "Row",
    "checkpoint_config",
    "checkpoint_rows",
    "chunks",
    "key",
    "ordered_writes",
    "write_rows",
)

T = TypeVar("T")

Row = dict[str, Any]
"""A row to insert: column name to value (bound by name on every write path)."""

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


def checkpoint_rows(
    serde: SerializerProtocol,
    config: RunnableConfig,
    checkpoint: Checkpoint,
    metadata: CheckpointMetadata,
    new_versions: ChannelVersions,
) -> tuple[Row, list[Row]]:
    """Encode a put: the checkpoint row (values left out) and one row per new channel value.

    Args:
        serde: The serializer.
        config: The parent's config (its ``checkpoint_id`` is the parent, if any).
        checkpoint: The checkpoint to store.
        metadata: Its metadata.
        new_versions: The channels whose version changed: only their values are written.

    Returns:
        The ``ponder_checkpoints`` row and the ``ponder_checkpoint_blobs`` rows.

    Raises:
        ConfigurationError: A bad key (see `key`).
        CheckpointError: A value the serializer refuses.
    """
    thread_id, checkpoint_ns, parent_id = address(config)
    values = checkpoint["channel_values"]
    body = {name: value for name, value in checkpoint.items() if name != "channel_values"}
    body_type, body_bytes = serde.dumps_typed(body)
    stored_metadata = get_serializable_checkpoint_metadata(config, metadata)
    metadata_type, metadata_bytes = serde.dumps_typed(stored_metadata)
    run_id = stored_metadata.get("run_id")
    blob_rows = []
    for channel, version in new_versions.items():
        if channel in values:
            type_, blob = serde.dumps_typed(values[channel])
            blob_rows.append(
                {
                    "thread_id": thread_id,
                    "checkpoint_ns": checkpoint_ns,
                    "channel": key(channel, "channel"),
                    "version": key(version, "channel version"),
                    "type": type_,
                    "blob": blob,
                }
            )
    row = {
        "thread_id": thread_id,
        "checkpoint_ns": checkpoint_ns,
        "checkpoint_id": key(checkpoint["id"], "checkpoint id"),
        "parent_checkpoint_id": parent_id,
        "run_id": None if run_id is None else key(run_id, "run_id"),
        "type": body_type,
        "checkpoint": body_bytes,
        "metadata_type": metadata_type,
        "metadata": metadata_bytes,
    }
    return row, blob_rows


def write_rows(
    serde: SerializerProtocol,
    config: RunnableConfig,
    pending: Sequence[tuple[str, Any]],
    task_id: str,
    task_path: str,
) -> tuple[list[Row], bool]:
    """Encode pending writes: their ``ponder_checkpoint_writes`` rows, and whether they replace.

    A repeated (task, index) keeps the first write, except when every write is to a special
    channel (`WRITES_IDX_MAP`: errors, interrupts, ...), which keep the last: then the second
    value returned is ``True``.

    Raises:
        ConfigurationError: ``config`` addresses no checkpoint, or a bad key.
        CheckpointError: A value the serializer refuses.
    """
    thread_id, checkpoint_ns, checkpoint_id = address(config)
    if checkpoint_id is None:
        raise ConfigurationError("put_writes needs the config of a stored checkpoint")
    task_id, task_path = key(task_id, "task_id"), key(task_path, "task_path")
    rows = []
    for index, (channel, value) in enumerate(pending):
        type_, blob = serde.dumps_typed(value)
        rows.append(
            {
                "thread_id": thread_id,
                "checkpoint_ns": checkpoint_ns,
                "checkpoint_id": checkpoint_id,
                "task_id": task_id,
                "idx": WRITES_IDX_MAP.get(channel, index),
                "task_path": task_path,
                "channel": key(channel, "channel"),
                "type": type_,
                "blob": blob,
            }
        )
    return rows, all(channel in WRITES_IDX_MAP for channel, _ in pending)
