"""One step's model calls handed to an in-process engine together, in their own order.

A node makes its calls concurrently (`ponder.nodes._calls.make_calls`: one task per call).
An engine that batches them (the embedded model's `ponder.models._batch.BatchEngine`) would
see them arrive one by one, in whatever order the tasks happen to run, and the batch it
decodes them in, which changes llama.cpp's floating-point sums and so the sampled tokens,
would follow timing. `call_group` marks the calls of one step; each task makes its call as
`call_member` ``position``, and a model that takes part (`join`) receives every member's
request at once, ordered by position, when the last member has joined or left.

A model that does not take part ignores all of it: a member that makes no call through a
joining model leaves the group when its task is done.

Example:
    >>> import asyncio
    >>> async def demo() -> list[str]:
    ...     seen: list[str] = []
    ...
    ...     def flush(requests: list[str]) -> list[str]:
    ...         seen.extend(requests)
    ...         return [r.upper() for r in requests]
    ...
    ...     async def call(position: int, text: str) -> str:
    ...         with call_member(position):
    ...             joined = join(text, flush)
    ...             assert joined is not None
    ...             return await joined
    ...
    ...     with call_group(2):
    ...         answers = await asyncio.gather(call(1, "b"), call(0, "a"))
    ...     return seen + answers
    >>> asyncio.run(demo())
    ['a', 'b', 'B', 'A']
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Generic, TypeVar

__all__ = ("call_group", "call_member", "join")

R = TypeVar("R")
O = TypeVar("O")  # noqa: E741 - the outcome type


class _Group(Generic[R, O]):
    """The members of one step: who joined with which request, who left, and when to flush."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.settled = 0
        self.joined: dict[int, tuple[R, asyncio.Future[O]]] = {}
        self.flush: Callable[[list[R]], Sequence[O]] | None = None

    def settle(self) -> None:
        self.settled += 1
        if self.settled < self.size or not self.joined or self.flush is None:
            return
        order = sorted(self.joined)
        futures = [self.joined[p][1] for p in order]
        try:
            outcomes = self.flush([self.joined[p][0] for p in order])
        except Exception as exc:  # every member gets the failure
            for future in futures:
                if not future.done():
                    future.set_exception(exc)
            return
        for future, outcome in zip(futures, outcomes, strict=True):
            if not future.done():
                future.set_result(outcome)


class _Member:
    __slots__ = ("done", "group", "position")

    def __init__(self, group: _Group[Any, Any], position: int) -> None:
        self.group, self.position, self.done = group, position, False


_GROUP: contextvars.ContextVar[_Group[Any, Any] | None] = contextvars.ContextVar(
    "ponder_call_group", default=None
)
_MEMBER: contextvars.ContextVar[_Member | None] = contextvars.ContextVar(
    "ponder_call_member", default=None
)


@contextmanager
def call_group(size: int) -> Iterator[None]:
    """Mark the ``size`` concurrent calls made in the body as one group.

    Every one of them must run in its own task, inside `call_member` with a distinct
    position in ``range(size)``.
    """
    token = _GROUP.set(_Group(size))
    try:
        yield
    finally:
        _GROUP.reset(token)


@contextmanager
def call_member(position: int) -> Iterator[None]:
    """Make the body's model call as member ``position`` of the current group, if any.

    A member that has not joined when the body ends leaves the group.
    """
    group = _GROUP.get()
    if group is None:
        yield
        return
    member = _Member(group, position)
    token = _MEMBER.set(member)
    try:
        yield
    finally:
        _MEMBER.reset(token)
        if not member.done:
            member.done = True
            group.settle()


def join(request: R, flush: Callable[[list[R]], Sequence[O]]) -> Awaitable[O] | None:
    """Join the current member's group with ``request``; ``None`` outside a group.

    ``flush`` receives every joined member's request, ordered by position, once all members
    have joined or left, and returns one outcome per request at once (a handle to wait on,
    for an engine); the first joiner's ``flush`` is the one called. Await the result for
    this member's outcome; a member joins once (a second call returns ``None``).
    """
    member = _MEMBER.get()
    if member is None or member.done:
        return None
    group = member.group
    member.done = True
    future: asyncio.Future[O] = asyncio.get_running_loop().create_future()
    group.joined[member.position] = (request, future)
    if group.flush is None:
        group.flush = flush
    group.settle()
    return future
