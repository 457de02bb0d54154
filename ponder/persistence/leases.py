"""Run leases: one process at a time works on a run.

A process that starts, resumes or forks a run first takes the run's lease, a row of
``ponder_run_leases`` naming it (`LeaseOwner`: host, process id, a random part), and renews
it every `RENEW_SECONDS` while the run goes on. A second process that wants the same run
finds the lease held and is refused with `ponder.errors.RunBusy`, naming the holder, before it
reads the run's state or calls a model: two resumes of one run never both spend.

A holder that died leaves its row behind. It is recognised as dead, and its lease taken over
in one compare-and-swap statement, when either

- it is on this host and its process is gone (checked at once), or
- it has not renewed its lease for `STALE_SECONDS` (any host; clocks of the machines sharing
  a PostgreSQL store are assumed to agree within a few seconds).

`ponder.runs.alist_runs` shows a run recorded as ``running`` whose lease is dead or missing as
``interrupted``: its process is gone, and ``ponder resume RUN`` continues it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ponder.errors import CheckpointError, RunBusy

if TYPE_CHECKING:
    from ponder.persistence.sqlalchemy import SqlCheckpointer

__all__ = (
    "RENEW_SECONDS",
    "STALE_SECONDS",
    "Lease",
    "LeaseOwner",
    "hold_lease",
    "is_dead",
)

logger = logging.getLogger(__name__)

RENEW_SECONDS = 10.0
"""How often a holder renews its lease."""
STALE_SECONDS = 60.0
"""A lease not renewed for this long is dead, wherever its holder runs."""


@dataclass(frozen=True, slots=True)
class LeaseOwner:
    """Who holds a lease: one process, and one use of a run within it."""

    id: str
    """Unique to this holding (host, process id and a random part)."""
    host: str
    """The holder's host name."""
    pid: int
    """The holder's process id on that host."""

    @classmethod
    def here(cls) -> LeaseOwner:
        """A new owner for this process."""
        host, pid = socket.gethostname(), os.getpid()
        return cls(id=f"{host}:{pid}:{uuid.uuid4().hex[:12]}", host=host, pid=pid)


@dataclass(frozen=True, slots=True)
class Lease:
    """A run's lease as stored."""

    run_id: str
    owner: LeaseOwner
    acquired_at: float
    """When the holder took it (Unix time)."""
    renewed_at: float
    """When the holder last renewed it (Unix time)."""


def _process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OSError):  # alive, owned by someone else (or not ours to ask)
        return False
    return False


def is_dead(lease: Lease, *, now: float | None = None) -> bool:
    """Whether ``lease``'s holder is gone (see the module's rules)."""
    now = time.time() if now is None else now
    if now - lease.renewed_at > STALE_SECONDS:
        return True
    return lease.owner.host == socket.gethostname() and _process_gone(lease.owner.pid)


def _busy(lease: Lease) -> RunBusy:
    age = max(0.0, time.time() - lease.acquired_at)
    return RunBusy(
        f"run {lease.run_id!r} is being worked on by process {lease.owner.pid} on "
        f"{lease.owner.host} (for {age:.0f} s): wait for it to finish or pause, or stop that "
        "process; a process that died is recognised at once on this host, and after "
        f"{STALE_SECONDS:.0f} s without renewal elsewhere",
        run_id=lease.run_id,
        host=lease.owner.host,
        pid=lease.owner.pid,
    )


async def acquire(saver: SqlCheckpointer, run_id: str, owner: LeaseOwner) -> None:
    """Take ``run_id``'s lease for ``owner``, taking over a dead holder's.

    Raises:
        RunBusy: A live process holds it.
    """
    for _ in range(3):  # a lost race re-reads the holder; a live one refuses at once
        holder = await saver.atake_lease(run_id, owner, now=time.time())
        if holder is None:
            return
        if not is_dead(holder):
            raise _busy(holder)
        if await saver.atake_over_lease(holder, owner, now=time.time()):
            logger.info(
                "run %r: took over the lease of process %s on %s, which is gone",
                run_id, holder.owner.pid, holder.owner.host,
            )  # fmt: skip
            return
    raise RunBusy(
        f"run {run_id!r} is contended: other processes took its lease as this one tried",
        run_id=run_id, host=None, pid=None,
    )  # fmt: skip


@contextlib.asynccontextmanager
async def hold_lease(saver: SqlCheckpointer, run_id: str) -> AsyncIterator[LeaseOwner]:
    """Hold ``run_id``'s lease for the block, renewing it; released at the end.

    When a renewal finds the lease gone (another process took it over, judging this one
    dead), the block is cancelled and `RunBusy` raised in its place: the run is that
    process's now.

    Raises:
        RunBusy: A live process holds the lease, or took it over during the block.
    """
    owner = LeaseOwner.here()
    await acquire(saver, run_id, owner)
    task = asyncio.current_task()
    lost = asyncio.Event()

    async def renew() -> None:
        while True:
            await asyncio.sleep(RENEW_SECONDS)
            try:
                kept = await saver.arenew_lease(run_id, owner, now=time.time())
            except CheckpointError as exc:  # the store is unreachable: try again later
                logger.warning("run %r: could not renew its lease: %s", run_id, exc)
                continue
            if not kept:
                lost.set()
                if task is not None:
                    task.cancel()
                return

    renewer = asyncio.create_task(renew(), name=f"ponder-lease-{run_id}")
    try:
        yield owner
    except asyncio.CancelledError:
        if lost.is_set():
            uncancel = getattr(task, "uncancel", None)  # Python 3.11+
            if uncancel is not None:
                uncancel()
            raise RunBusy(
                f"run {run_id!r} was taken over by another process while this one worked "
                f"on it (no lease renewal for {STALE_SECONDS:.0f} s): this process stopped",
                run_id=run_id, host=None, pid=None,
            ) from None  # fmt: skip
        raise
    finally:
        renewer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewer
        if not lost.is_set():
            try:
                await asyncio.shield(saver.arelease_lease(run_id, owner))
            except CheckpointError as exc:  # it goes stale and is taken over in time
                logger.warning("run %r: could not release its lease: %s", run_id, exc)
