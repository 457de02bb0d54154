"""The greedy sample or probe is drawn alone, before the others of its step.

Decoded in one batch with other samples, a greedy sample's tokens can differ from greedy
decoding's (llama.cpp's sums depend on the batch), and the rules that weigh the greedy
answer need greedy decoding's own.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

import ponder
from ponder.graphs import StrategyName
from ponder.testing import ScriptedChatModel

DELAY = 0.05


@pytest.mark.parametrize(
    ("strategy", "options"),
    [
        ("self-consistency", {"select": "anchored", "programs": 0}),
        ("self-consistency", {"select": "ranked", "programs": 0}),
        ("adaptive", {}),
    ],
)
async def test_the_greedy_call_is_made_alone_first(
    strategy: StrategyName, options: dict[str, Any]
) -> None:
    started: list[tuple[float, float]] = []
    replies = iter(["7", "8", "7", "9", "7", "8", "7", "9", "7", "8"] * 3)

    def reply(messages: Any, kwargs: Any) -> str:
        started.append((time.monotonic(), kwargs.get("temperature", 0.0)))
        return f"Some work. The answer is {next(replies)}."

    model = ScriptedChatModel(reply_fn=reply, delay=DELAY)
    await ponder.asolve("What is 3 + 4?", model=model, strategy=strategy, **options)
    assert len(started) >= 3
    (first_at, first_heat), (second_at, _) = started[0], started[1]
    assert first_heat == 0.0
    # The second call starts once the first has ended, not beside it.
    assert second_at - first_at >= DELAY * 0.9
