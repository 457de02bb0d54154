"""Deleting checkpoints: whole namespaces pruned to their latest, and unused values."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from langgraph.checkpoint.serde.base import SerializerProtocol
from sqlalchemy.ext.asyncio import AsyncConnection

from ponder.persistence._delta import ancestor_ids, find_seeds
from ponder.persistence._hydrate import pairs_clause
from ponder.persistence._rows import chunks
from ponder.persistence.schema import blobs, checkpoints, writes

__all__ = ("delete_checkpoints", "keep_latest")


async def keep_latest(
    conn: AsyncConnection, serde: SerializerProtocol, thread_id: str, checkpoint_ns: str
) -> None:
    """Delete every checkpoint of a namespace but the latest and what it needs.

    A latest checkpoint whose metadata names ``DeltaChannel`` channels also keeps its
    ancestors up to the nearest stored value of each (`find_seeds`), with their writes.
    """
    c = checkpoints
    in_namespace = (c.c.thread_id == thread_id, c.c.checkpoint_ns == checkpoint_ns)
    latest = (
        await conn.execute(
            sa.select(c.c.checkpoint_id, c.c.metadata_type, c.c.metadata)
            .where(*in_namespace)
            .order_by(c.c.checkpoint_id.desc())
            .limit(1)
        )
    ).first()
    if latest is None:
        return
    keep = {latest.checkpoint_id}
    counters = serde.loads_typed((latest.metadata_type, latest.metadata)).get(
        "counters_since_delta_snapshot"
    )
    if isinstance(counters, dict) and counters:
        chain = await ancestor_ids(conn, thread_id, checkpoint_ns, latest.checkpoint_id)
        walked, _ = await find_seeds(conn, serde, thread_id, checkpoint_ns, chain, sorted(counters))
        for checkpoint_ids in walked.values():
            keep.update(checkpoint_ids)
    every = (await conn.scalars(sa.select(c.c.checkpoint_id).where(*in_namespace))).all()
    doomed = [checkpoint_id for checkpoint_id in every if checkpoint_id not in keep]
    if doomed:
        await delete_checkpoints(conn, serde, thread_id, checkpoint_ns, doomed)


async def delete_checkpoints(
    conn: AsyncConnection,
    serde: SerializerProtocol,
    thread_id: str,
    checkpoint_ns: str,
    checkpoint_ids: Sequence[str],
) -> None:
    """Delete checkpoints of one namespace with their writes, then unused values."""
    c, w, b = checkpoints, writes, blobs
    for batch in chunks(checkpoint_ids):
        for table in (w, c):
            await conn.execute(
                sa.delete(table).where(
                    table.c.thread_id == thread_id,
                    table.c.checkpoint_ns == checkpoint_ns,
                    table.c.checkpoint_id.in_(batch),
                )
            )
    in_namespace = (b.c.thread_id == thread_id, b.c.checkpoint_ns == checkpoint_ns)
    used: set[tuple[str, str]] = set()
    result = await conn.execute(
        sa.select(c.c.type, c.c.checkpoint).where(
            c.c.thread_id == thread_id, c.c.checkpoint_ns == checkpoint_ns
        )
    )
    for row in result:
        versions = serde.loads_typed((row.type, row.checkpoint))["channel_versions"]
        used.update((channel, str(version)) for channel, version in versions.items())
    stored = await conn.execute(sa.select(b.c.channel, b.c.version).where(*in_namespace))
    unused = sorted({(row.channel, row.version) for row in stored} - used)
    for pairs in chunks(unused):
        await conn.execute(sa.delete(b).where(*in_namespace, pairs_clause(pairs)))
