"""The call group: one step's concurrent calls handed over together, in position order."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from ponder.models._group import call_group, call_member, join


def recording(seen: list[list[str]]) -> Callable[[list[str]], list[str]]:
    def flush(requests: list[str]) -> list[str]:
        seen.append(list(requests))
        return [r.upper() for r in requests]

    return flush


async def test_members_are_flushed_together_in_position_order() -> None:
    seen: list[list[str]] = []

    async def call(position: int, text: str, delay: float) -> str:
        with call_member(position):
            await asyncio.sleep(delay)  # arrive out of order
            joined = join(text, recording(seen))
            assert joined is not None
            return await joined

    with call_group(3):
        answers = await asyncio.gather(call(0, "a", 0.03), call(1, "b", 0.0), call(2, "c", 0.01))
    assert seen == [["a", "b", "c"]]
    assert list(answers) == ["A", "B", "C"]


async def test_members_that_make_no_call_or_fail_leave_the_group() -> None:
    seen: list[list[str]] = []

    async def call(position: int, text: str | None) -> str | None:
        with call_member(position):
            if text is None:
                return None  # refused before the model: it leaves
            if text == "boom":
                raise ValueError("the model raised before joining")
            joined = join(text, recording(seen))
            assert joined is not None
            return await joined

    with call_group(4):
        results = await asyncio.gather(
            call(0, "a"), call(1, None), call(2, "boom"), call(3, "d"), return_exceptions=True
        )
    assert seen == [["a", "d"]]
    assert results[0] == "A" and results[1] is None and results[3] == "D"
    assert isinstance(results[2], ValueError)


async def test_a_failing_flush_fails_every_member_and_outside_a_group_nothing_joins() -> None:
    def broken(requests: list[str]) -> list[str]:
        raise RuntimeError("engine closed")

    async def call(position: int) -> str:
        with call_member(position):
            joined = join("x", broken)
            assert joined is not None
            assert join("again", broken) is None  # a member joins once
            return await joined

    with call_group(2):
        results = await asyncio.gather(call(0), call(1), return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)
    assert join("x", broken) is None
    with call_member(0):
        assert join("x", broken) is None


@pytest.mark.parametrize("size", [1, 2])
async def test_a_group_of_one_or_two_flushes_at_once(size: int) -> None:
    seen: list[list[str]] = []

    async def call(position: int) -> str:
        with call_member(position):
            joined = join(str(position), recording(seen))
            assert joined is not None
            return await joined

    with call_group(size):
        answers = await asyncio.gather(*(call(i) for i in range(size)))
    assert list(answers) == [str(i) for i in range(size)]
    assert seen == [[str(i) for i in range(size)]]
