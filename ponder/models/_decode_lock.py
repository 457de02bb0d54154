"""One decoder at a time on the machine: embedded-model processes take turns for the cores.

llama.cpp runs a decode call on ``n_threads`` threads (all the cores, by default) that meet
at a spinning barrier after every operation of the compute graph, hundreds of times per
call, and its OpenMP worker threads go on spinning for a while after the call returns
(measured here: about 15 ms, as long as a decode step, before they sleep). Two processes
decoding at once on the same cores each have a thread spinning while the thread it waits
for is descheduled by the other process's threads: on two cores, two ``ponder solve``
processes took 13.1 s together against 5.8 s for one alone, and four processes drew a
seventh of one process's output tokens per second between them.

So a process decodes only while it holds *the turn*: an exclusive ``flock`` on one file
shared by the user's ponder processes (and a mutex for the threads of one process). A
waiting process sleeps in the kernel. Handing the turn over at every decode step is not
enough, because the releaser's worker threads keep spinning through the next holder's
step; so a thread that decodes step after step (the batched driver while it has work, one
sequential generation: inside `decoding`) keeps the turn for `QUANTUM` seconds of steps, and
only gives it up then if another thread or process is waiting for it (waiters announce
themselves with a shared ``flock`` on a second file, ``<lock file>.queue``), or when it stops
decoding. Every process keeps progressing: one quantum each, in turn. Thread counts and the
computation are unchanged, so are the results; a process alone pays a few system calls per
step (microseconds, against milliseconds for a step).

The environment variable ``PONDER_DECODE_LOCK`` chooses the file, read at every turn:

- unset or empty: ``<tempdir>/ponder-decode-<uid>.lock``, shared by the user's processes;
- ``off``: no lock (processes decode at the same time, as before);
- anything else: the path of the lock file (processes naming the same file take turns).

On Windows (no ``flock``), or where the file cannot be opened, there is no lock.

Example:
    >>> with decoding():
    ...     for step in range(3):
    ...         with decode_turn():
    ...             pass  # a llama.cpp decode call
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

if sys.platform != "win32":
    import fcntl

__all__ = ("LOCK_ENV", "QUANTUM", "decode_turn", "decoding", "lock_path", "release_turn")

logger = logging.getLogger(__name__)

LOCK_ENV = "PONDER_DECODE_LOCK"
"""The environment variable naming the lock file (or ``off``); see the module docstring."""

QUANTUM = 0.1
"""Seconds of consecutive decode steps a thread keeps the turn for while others wait.

Longer wastes less of the cores at each hand-over (the releaser's spinning threads) and
makes the waiters wait longer: up to one quantum per other decoding process.
"""

_GRACE = 0.002
"""Seconds a thread that gave the turn up to waiters lets them take it before it asks again
(``flock`` wakes the waiters but hands the lock to nobody: the first to ask gets it)."""


def lock_path() -> str | None:
    """Return the lock file that decode calls take turns on now, or ``None`` for no lock."""
    if sys.platform == "win32":  # no flock: no lock
        return None
    value = os.environ.get(LOCK_ENV, "").strip()
    if value.lower() == "off":
        return None
    if value:
        return value
    return os.path.join(tempfile.gettempdir(), f"ponder-decode-{os.getuid()}.lock")


class _Turn:
    """The process's side of the turn: the mutex, the lock files, who holds it since when."""

    def __init__(self) -> None:
        self.mutex = threading.Lock()
        """Held by the thread that holds the turn, for as long as it holds it."""
        self.count_lock = threading.Lock()
        self.waiting = 0
        """Threads of this process waiting for `mutex`."""
        self.owner: int | None = None
        self.since = 0.0
        self.locked: int | None = None
        """The descriptor whose ``flock`` the owner holds (``None``: decoding unlocked)."""
        self.path: str | None = None
        self.fds: tuple[int, int] | None = None
        self.failed: set[str] = set()
        self.local = threading.local()

    def held(self) -> bool:
        return self.owner == threading.get_ident()

    def open(self, path: str) -> tuple[int, int] | None:
        """The lock file's and its queue's descriptors (with `mutex` held), or ``None``."""
        if self.fds is not None and self.path != path:
            for fd in self.fds:
                os.close(fd)
            self.fds = None
        if self.fds is None and path not in self.failed:
            flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC
            try:
                main = os.open(path, flags, 0o600)
                try:
                    queue = os.open(path + ".queue", flags, 0o600)
                except OSError:
                    os.close(main)
                    raise
            except OSError as exc:
                self.failed.add(path)
                logger.warning("decoding without the machine-wide lock %s: %s", path, exc)
                return None
            self.path, self.fds = path, (main, queue)
        return self.fds

    def take(self, path: str) -> None:
        """Wait for the turn (asleep), then hold it."""
        with self.count_lock:
            self.waiting += 1
        self.mutex.acquire()
        with self.count_lock:
            self.waiting -= 1
        try:
            fds = self.open(path)
            if fds is not None:
                main, queue = fds
                try:
                    fcntl.flock(main, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    fcntl.flock(queue, fcntl.LOCK_SH)  # "someone waits", seen by the holder
                    try:
                        fcntl.flock(main, fcntl.LOCK_EX)
                    finally:
                        fcntl.flock(queue, fcntl.LOCK_UN)
                self.locked = main
        except BaseException:
            self.mutex.release()
            raise
        self.owner, self.since = threading.get_ident(), time.monotonic()

    def give(self) -> None:
        """Give the turn up (the owner only)."""
        locked, self.locked, self.owner = self.locked, None, None
        try:
            if locked is not None:
                fcntl.flock(locked, fcntl.LOCK_UN)
        finally:
            self.mutex.release()

    def others_wait(self) -> bool:
        """Whether another thread of this process, or another process, waits for the turn."""
        if self.waiting:
            return True
        if self.locked is None or self.fds is None:
            return False
        queue = self.fds[1]
        try:
            fcntl.flock(queue, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(queue, fcntl.LOCK_UN)
        return False


_TURN = _Turn()


def _after_fork() -> None:
    global _TURN
    # A fresh turn: the parent's mutex may be held by a thread the child does not have, and
    # the inherited descriptors share the parent's locks.
    old, _TURN = _TURN, _Turn()
    for fd in old.fds or ():
        os.close(fd)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


@contextmanager
def decode_turn() -> Iterator[None]:
    """Hold the turn for the body: wrap each llama.cpp decode call in it.

    Waits (asleep) for the turn unless this thread holds it already. Afterwards, outside
    `decoding`, the turn is given up at once; inside, it is kept until `QUANTUM` seconds
    have passed since it was taken and someone waits for it. Does nothing when
    ``PONDER_DECODE_LOCK`` is ``off``.
    """
    turn = _TURN
    if not turn.held():
        path = lock_path()
        if path is None:
            yield
            return
        turn.take(path)
    try:
        yield
    finally:
        if not getattr(turn.local, "depth", 0):
            turn.give()
        elif time.monotonic() - turn.since >= QUANTUM:
            if turn.others_wait():
                turn.give()
                time.sleep(_GRACE)
            else:
                turn.since = time.monotonic()


def release_turn() -> None:
    """Give the turn up now if this thread holds it (it is about to stop decoding)."""
    turn = _TURN
    if turn.held():
        turn.give()


@contextmanager
def decoding() -> Iterator[None]:
    """Mark a stretch of consecutive decode calls: the turn is kept between them.

    Within it `decode_turn` keeps the turn across calls for up to `QUANTUM` seconds while
    others wait; it is given up at the end (and should be, with `release_turn`, wherever
    the thread pauses between decode calls for longer than a step).
    """
    local = _TURN.local
    local.depth = getattr(local, "depth", 0) + 1
    try:
        yield
    finally:
        local.depth -= 1
        if local.depth == 0:
            release_turn()
