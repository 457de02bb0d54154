"""Reading checkpoints: rows to `CheckpointTuple`s with their values and pending writes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

import sqlalchemy as sa
from langgraph.checkpoint.base import (
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    PendingWrite,
)
from langgraph.checkpoint.serde.base import SerializerProtocol
from sqlalchemy.ext.asyncio import AsyncConnection

from ponder.persistence._rows import checkpoint_config, chunks, ordered_writes
from ponder.persistence.schema import blobs, checkpoints, writes

__all__ = ("hydrate", "matches", "select_checkpoints")


def select_checkpoints() -> sa.Select[Any]:
    """Select the checkpoint columns `hydrate` needs."""
    c = checkpoints
    return sa.select(
        c.c.thread_id,
        c.c.checkpoint_ns,
        c.c.checkpoint_id,
        c.c.parent_checkpoint_id,
        c.c.type,
        c.c.checkpoint,
        c.c.metadata_type,
        c.c.metadata,
    )


def matches(metadata: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    """Whether ``metadata`` has every key of ``wanted`` with an equal value.

    As in InMemorySaver, a missing key compares as ``None``; unlike plain ``==``, a boolean
    never equals a number.
    """
    return all(_same(metadata.get(name), value) for name, value in wanted.items())


def _same(stored: Any, wanted: Any) -> bool:
    # True == 1 in Python; a filter on a boolean must not match a number, nor the reverse.
    if isinstance(stored, bool) or isinstance(wanted, bool):
        return type(stored) is type(wanted) and stored == wanted
    return bool(stored == wanted)


async def hydrate(
    conn: AsyncConnection,
    serde: SerializerProtocol,
    rows: Sequence[Any],
    metadata: Sequence[CheckpointMetadata] | None = None,
) -> list[CheckpointTuple]:
    """Turn checkpoint rows into tuples with their channel values and pending writes.

    Args:
        conn: A connection to the store.
        serde: The serializer.
        rows: Rows from `select_checkpoints`.
        metadata: The rows' decoded metadata, when the caller has it already.
    """
    if not rows:
        return []
    bodies = [serde.loads_typed((row.type, row.checkpoint)) for row in rows]
    groups: dict[tuple[str, str], list[int]] = {}
    for position, row in enumerate(rows):
        groups.setdefault((row.thread_id, row.checkpoint_ns), []).append(position)
    values: dict[tuple[str, str, str, str], tuple[str, bytes]] = {}
    pending: dict[tuple[str, str, str], list[PendingWrite]] = {}
    b, w = blobs, writes
    for (thread_id, checkpoint_ns), positions in groups.items():
        pairs = sorted(
            {
                (channel, str(version))
                for position in positions
                for channel, version in bodies[position]["channel_versions"].items()
            }
        )
        for batch in chunks(pairs):
            result = await conn.execute(
                sa.select(b.c.channel, b.c.version, b.c.type, b.c.blob).where(
                    b.c.thread_id == thread_id,
                    b.c.checkpoint_ns == checkpoint_ns,
                    sa.tuple_(b.c.channel, b.c.version).in_(batch),
                )
            )
            for blob in result:
                values[(thread_id, checkpoint_ns, blob.channel, blob.version)] = (
                    blob.type,
                    blob.blob,
                )
        ids = sorted({rows[position].checkpoint_id for position in positions})
        rows_by_checkpoint: dict[str, list[Any]] = {}
        for batch in chunks(ids):
            result = await conn.execute(
                sa.select(
                    w.c.checkpoint_id,
                    w.c.task_id,
                    w.c.idx,
                    w.c.task_path,
                    w.c.channel,
                    w.c.type,
                    w.c.blob,
                ).where(
                    w.c.thread_id == thread_id,
                    w.c.checkpoint_ns == checkpoint_ns,
                    w.c.checkpoint_id.in_(batch),
                )
            )
            for write in result:
                rows_by_checkpoint.setdefault(write.checkpoint_id, []).append(write)
        for checkpoint_id, found in rows_by_checkpoint.items():
            pending[(thread_id, checkpoint_ns, checkpoint_id)] = ordered_writes(found, serde)
    tuples = []
    for position, row in enumerate(rows):
        body = bodies[position]
        channel_values = {}
        for channel, version in body["channel_versions"].items():
            stored = values.get((row.thread_id, row.checkpoint_ns, channel, str(version)))
            if stored is not None:
                channel_values[channel] = serde.loads_typed(stored)
        tuples.append(
            CheckpointTuple(
                config=checkpoint_config(row.thread_id, row.checkpoint_ns, row.checkpoint_id),
                checkpoint=cast(Checkpoint, {**body, "channel_values": channel_values}),
                metadata=(
                    metadata[position]
                    if metadata is not None
                    else serde.loads_typed((row.metadata_type, row.metadata))
                ),
                parent_config=(
                    checkpoint_config(row.thread_id, row.checkpoint_ns, row.parent_checkpoint_id)
                    if row.parent_checkpoint_id
                    else None
                ),
                pending_writes=pending.get(
                    (row.thread_id, row.checkpoint_ns, row.checkpoint_id), []
                ),
            )
        )
    return tuples
