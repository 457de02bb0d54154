"""Ancestor walks for LangGraph's ``DeltaChannel``: history replay and safe pruning.

A ``DeltaChannel`` stores its value only now and then (a ``_DeltaSnapshot`` blob); in between,
its value is the nearest stored value up the parent chain plus every write on the way down.
`delta_history` returns exactly that, for `SqlCheckpointer.aget_delta_channel_history`, and
`find_seeds` tells `SqlCheckpointer.aprune` which ancestors must survive a ``keep_latest``.

The walk follows ``parent_checkpoint_id`` (not id order: a forked thread has ancestors that
are not its id predecessors), stops at a missing parent or at a loop, and reads checkpoint
bodies in batches only until every requested channel has found its stored value (its *seed*).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from langgraph.checkpoint.base import DeltaChannelHistory
from langgraph.checkpoint.serde.base import SerializerProtocol
from sqlalchemy.ext.asyncio import AsyncConnection

from ponder.persistence._hydrate import stored_pairs
from ponder.persistence._rows import chunks, ordered_writes
from ponder.persistence.schema import blobs, checkpoints, writes

__all__ = ("ancestor_ids", "delta_history", "find_seeds")


async def ancestor_ids(
    conn: AsyncConnection, thread_id: str, checkpoint_ns: str, start_id: str
) -> list[str]:
    """Return ``start_id`` and its ancestors, nearest first.

    One recursive query fetches the (id, parent) pairs of the chain; ``UNION`` (not
    ``UNION ALL``) makes it terminate even when a re-``put`` checkpoint closed a loop.
    """
    c = checkpoints
    chain = (
        sa.select(c.c.checkpoint_id, c.c.parent_checkpoint_id)
        .where(
            c.c.thread_id == thread_id,
            c.c.checkpoint_ns == checkpoint_ns,
            c.c.checkpoint_id == start_id,
        )
        .cte("ponder_chain", recursive=True)
    )
    parent = c.alias("ponder_parent")
    step = chain.alias("ponder_step")
    chain = chain.union(
        sa.select(parent.c.checkpoint_id, parent.c.parent_checkpoint_id).where(
            parent.c.thread_id == thread_id,
            parent.c.checkpoint_ns == checkpoint_ns,
            parent.c.checkpoint_id == step.c.parent_checkpoint_id,
        )
    )
    result = await conn.execute(sa.select(chain.c.checkpoint_id, chain.c.parent_checkpoint_id))
    parent_of: dict[str, str | None] = {row[0]: row[1] for row in result}
    order: list[str] = []
    current: str | None = start_id
    while current is not None and current in parent_of and current not in order:
        order.append(current)
        current = parent_of[current]
    return order


async def find_seeds(
    conn: AsyncConnection,
    serde: SerializerProtocol,
    thread_id: str,
    checkpoint_ns: str,
    chain: Sequence[str],
    channels: Sequence[str],
) -> tuple[dict[str, list[str]], dict[str, str]]:
    """Walk ``chain`` (nearest first) until each channel reaches a stored value.

    Returns:
        For each channel, the checkpoints walked, nearest first, ending with the one holding
        its seed if found; and for each seeded channel, the seed's version.
    """
    walked: dict[str, list[str]] = {channel: [] for channel in channels}
    seed_version: dict[str, str] = {}
    remaining = set(channels)
    c = checkpoints
    for batch in chunks(chain):
        if not remaining:
            break
        result = await conn.execute(
            sa.select(c.c.checkpoint_id, c.c.type, c.c.checkpoint).where(
                c.c.thread_id == thread_id,
                c.c.checkpoint_ns == checkpoint_ns,
                c.c.checkpoint_id.in_(batch),
            )
        )
        versions_of: dict[str, Mapping[str, Any]] = {
            row.checkpoint_id: serde.loads_typed((row.type, row.checkpoint))["channel_versions"]
            for row in result
        }
        wanted = {
            (channel, str(versions[channel]))
            for versions in versions_of.values()
            for channel in remaining
            if channel in versions
        }
        stored = await stored_pairs(conn, thread_id, checkpoint_ns, sorted(wanted))
        for checkpoint_id in batch:
            versions = versions_of.get(checkpoint_id, {})
            for channel in sorted(remaining):
                walked[channel].append(checkpoint_id)
                if channel in versions and (channel, str(versions[channel])) in stored:
                    seed_version[channel] = str(versions[channel])
                    remaining.discard(channel)
    return walked, seed_version


async def delta_history(
    conn: AsyncConnection,
    serde: SerializerProtocol,
    thread_id: str,
    checkpoint_ns: str,
    parent_id: str | None,
    channels: Sequence[str],
) -> dict[str, DeltaChannelHistory]:
    """Return each channel's seed and writes from ``parent_id`` up to the seed.

    Writes come oldest first, and in `writes_sort_key` order within a checkpoint; the target
    checkpoint's own writes (pending for the next step) are not part of its history.
    """
    chain = await ancestor_ids(conn, thread_id, checkpoint_ns, parent_id) if parent_id else []
    walked, seed_version = await find_seeds(conn, serde, thread_id, checkpoint_ns, chain, channels)
    history: dict[str, DeltaChannelHistory] = {}
    w, b = writes, blobs
    for channel in channels:
        rows_by_checkpoint: dict[str, list[Any]] = {}
        for batch in chunks(walked[channel]):
            result = await conn.execute(
                sa.select(
                    w.c.checkpoint_id, w.c.task_id, w.c.idx, w.c.task_path, w.c.type, w.c.blob
                ).where(
                    w.c.thread_id == thread_id,
                    w.c.checkpoint_ns == checkpoint_ns,
                    w.c.channel == channel,
                    w.c.checkpoint_id.in_(batch),
                )
            )
            for row in result:
                rows_by_checkpoint.setdefault(row.checkpoint_id, []).append(row)
        entry: DeltaChannelHistory = {
            "writes": [
                write
                for checkpoint_id in reversed(walked[channel])
                for write in ordered_writes(
                    rows_by_checkpoint.get(checkpoint_id, []), serde, channel=channel
                )
            ]
        }
        if channel in seed_version:
            seed = (
                await conn.execute(
                    sa.select(b.c.type, b.c.blob).where(
                        b.c.thread_id == thread_id,
                        b.c.checkpoint_ns == checkpoint_ns,
                        b.c.channel == channel,
                        b.c.version == seed_version[channel],
                    )
                )
            ).one()
            entry["seed"] = serde.loads_typed((seed.type, seed.blob))
        history[channel] = entry
    return history
