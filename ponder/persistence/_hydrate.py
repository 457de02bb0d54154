"""Reading checkpoints: rows to `CheckpointTuple`s with their values and pending writes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple, cast

import sqlalchemy as sa
from langgraph.checkpoint.base import Checkpoint, CheckpointMetadata, CheckpointTuple
from langgraph.checkpoint.serde.base import SerializerProtocol
from sqlalchemy.ext.asyncio import AsyncConnection

from ponder.persistence._rows import checkpoint_config, chunks, ordered_writes
from ponder.persistence.schema import blobs, checkpoints, writes

__all__ = (
    "CHECKPOINT_COLUMNS",
    "CheckpointRow",
    "FoundRow",
    "Request",
    "ValueKey",
    "assemble",
    "batches",
    "hydrate",
    "matches",
    "pairs_clause",
    "requests",
    "stored_pairs",
)

CHECKPOINT_COLUMNS = (
    checkpoints.c.thread_id,
    checkpoints.c.checkpoint_ns,
    checkpoints.c.checkpoint_id,
    checkpoints.c.parent_checkpoint_id,
    checkpoints.c.type,
    checkpoints.c.checkpoint,
    checkpoints.c.metadata_type,
    checkpoints.c.metadata,
)
"""The checkpoint columns `hydrate` needs."""


class CheckpointRow(NamedTuple):
    """A ``ponder_checkpoints`` row, in the order of `CHECKPOINT_COLUMNS`."""

    thread_id: str
    checkpoint_ns: str
    checkpoint_id: str
    parent_checkpoint_id: str | None
    type: str
    checkpoint: bytes
    metadata_type: str
    metadata: bytes


class FoundRow(NamedTuple):
    """A row of a values-and-writes query: a value (kind 0) or a pending write (kind 1)."""

    kind: int
    channel: str
    key: str  # the value's version, or the write's checkpoint id
    task_id: str | None
    idx: int | None
    task_path: str | None
    type: str
    blob: bytes


# Channels and versions are looked up as two IN lists rather than one (channel, version) IN
# list: SQLite (3.40) searches the primary key only by its (thread_id, checkpoint_ns) prefix
# for the latter, reading every value of the thread, but by the whole key for the former. The
# two lists also match crossed pairs that were not asked for (a version of one channel equal
# to a version of another); readers drop those, `pairs_clause` excludes them.
def _values_query(*columns: sa.ColumnElement[Any]) -> sa.Select[Any]:
    b = blobs
    return sa.select(*columns).where(
        b.c.thread_id == sa.bindparam("thread_id"),
        b.c.checkpoint_ns == sa.bindparam("checkpoint_ns"),
        b.c.channel.in_(sa.bindparam("channels", expanding=True)),
        b.c.version.in_(sa.bindparam("versions", expanding=True)),
    )


# Statements are built once; every call binds its values.
_STORED = _values_query(blobs.c.channel, blobs.c.version)
# What `hydrate` reads for the checkpoints of one namespace, in one statement (one round trip,
# not two): their values (kind 0; ``key`` is the version) and their pending writes (kind 1;
# ``key`` is the checkpoint id). Either IN list may be empty.
_VALUES_AND_WRITES = sa.union_all(
    _values_query(
        sa.literal_column("0", sa.Integer).label("kind"),
        blobs.c.channel,
        blobs.c.version.label("key"),
        sa.null().label("task_id"),
        sa.null().label("idx"),
        sa.null().label("task_path"),
        blobs.c.type,
        blobs.c.blob,
    ),
    sa.select(
        sa.literal_column("1", sa.Integer),
        writes.c.channel,
        writes.c.checkpoint_id,
        writes.c.task_id,
        writes.c.idx,
        writes.c.task_path,
        writes.c.type,
        writes.c.blob,
    ).where(
        writes.c.thread_id == sa.bindparam("thread_id"),
        writes.c.checkpoint_ns == sa.bindparam("checkpoint_ns"),
        writes.c.checkpoint_id.in_(sa.bindparam("checkpoint_ids", expanding=True)),
    ),
)


def _lists(pairs: Sequence[tuple[str, str]]) -> dict[str, list[str]]:
    return {
        "channels": sorted({channel for channel, _ in pairs}),
        "versions": sorted({version for _, version in pairs}),
    }


def pairs_clause(pairs: Sequence[tuple[str, str]]) -> sa.ColumnElement[bool]:
    """Exactly the values ``pairs`` names, of one namespace, searched by the whole key.

    For statements that must not touch any other value (a ``DELETE``): the two IN lists lead
    SQLite to the primary key, the (channel, version) list keeps only the exact pairs.
    """
    b = blobs
    lists = _lists(pairs)
    return sa.and_(
        b.c.channel.in_(lists["channels"]),
        b.c.version.in_(lists["versions"]),
        sa.tuple_(b.c.channel, b.c.version).in_(pairs),
    )


async def stored_pairs(
    conn: AsyncConnection, thread_id: str, checkpoint_ns: str, pairs: Sequence[tuple[str, str]]
) -> set[tuple[str, str]]:
    """Return which of these ``(channel, version)`` pairs of one namespace have a value."""
    wanted = set(pairs)
    found: set[tuple[str, str]] = set()
    for batch in chunks(sorted(wanted)):
        result = await conn.execute(
            _STORED, {"thread_id": thread_id, "checkpoint_ns": checkpoint_ns, **_lists(batch)}
        )
        found.update((row.channel, row.version) for row in result)
    return found & wanted


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


ValueKey = tuple[str, str, str, str]
"""A channel value's key: ``(thread_id, checkpoint_ns, channel, version)``."""

Request = tuple[set[tuple[str, str]], list[str]]
"""What to read for the checkpoints of one namespace: ``(channel, version)`` pairs and ids."""


def requests(rows: Sequence[Any], bodies: Sequence[Checkpoint]) -> dict[tuple[str, str], Request]:
    """Per ``(thread_id, checkpoint_ns)``: the values and the writes these checkpoints need."""
    found: dict[tuple[str, str], Request] = {}
    for row, body in zip(rows, bodies, strict=True):
        pairs, ids = found.setdefault((row.thread_id, row.checkpoint_ns), (set(), []))
        versions = body["channel_versions"].items()
        pairs.update((channel, str(version)) for channel, version in versions)
        ids.append(row.checkpoint_id)
    return found


def batches(request: Request) -> list[tuple[dict[str, list[str]], Sequence[str]]]:
    """Split a request into lists that fit one statement: ``(channel/version lists, ids)``."""
    pairs, ids = request
    pair_batches = list(chunks(sorted(pairs)))
    id_batches = list(chunks(sorted(set(ids))))
    return [
        (
            _lists(pair_batches[index] if index < len(pair_batches) else ()),
            id_batches[index] if index < len(id_batches) else [],
        )
        for index in range(max(len(pair_batches), len(id_batches)))
    ]


def assemble(
    serde: SerializerProtocol,
    rows: Sequence[Any],
    bodies: Sequence[Checkpoint],
    values: Mapping[ValueKey, tuple[str, bytes]],
    write_rows: Mapping[tuple[str, str, str], Sequence[Any]],
    metadata: Sequence[CheckpointMetadata] | None,
) -> list[CheckpointTuple]:
    """Build the checkpoint tuples from their rows, decoded bodies, values and write rows.

    Args:
        serde: The serializer.
        rows: Rows of the `CHECKPOINT_COLUMNS` (attribute access).
        bodies: Their decoded checkpoints, without values.
        values: Stored values by `ValueKey`; extra ones (crossed pairs) are ignored.
        write_rows: Write rows (see `ordered_writes`) by ``(thread_id, checkpoint_ns,
            checkpoint_id)``.
        metadata: The rows' decoded metadata, when the caller has it already.
    """
    tuples = []
    for position, row in enumerate(rows):
        body = bodies[position]
        channel_values = {}
        for channel, version in body["channel_versions"].items():
            stored = values.get((row.thread_id, row.checkpoint_ns, channel, str(version)))
            if stored is not None:
                channel_values[channel] = serde.loads_typed(stored)
        found_writes = write_rows.get((row.thread_id, row.checkpoint_ns, row.checkpoint_id))
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
                pending_writes=ordered_writes(found_writes, serde) if found_writes else [],
            )
        )
    return tuples


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
        rows: Rows of the `CHECKPOINT_COLUMNS`.
        metadata: The rows' decoded metadata, when the caller has it already.
    """
    if not rows:
        return []
    bodies = [serde.loads_typed((row.type, row.checkpoint)) for row in rows]
    values: dict[ValueKey, tuple[str, bytes]] = {}
    found_writes: dict[tuple[str, str, str], list[Any]] = {}
    for (thread_id, checkpoint_ns), request in requests(rows, bodies).items():
        for lists, ids in batches(request):
            result = await conn.execute(
                _VALUES_AND_WRITES,
                {
                    "thread_id": thread_id,
                    "checkpoint_ns": checkpoint_ns,
                    **lists,
                    "checkpoint_ids": ids,
                },
            )
            for found in result:
                if found.kind == 1:
                    found_writes.setdefault((thread_id, checkpoint_ns, found.key), []).append(found)
                else:
                    values[(thread_id, checkpoint_ns, found.channel, found.key)] = (
                        found.type,
                        found.blob,
                    )
    return assemble(serde, rows, bodies, values, found_writes, metadata)
