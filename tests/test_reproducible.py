"""The same seed gives the same run on the embedded model, whatever else runs beside it.

Before each step's calls came to the batched engine as one group (`ponder.models._group`),
three identical self-consistency solves drew three different answer sets: the batch a
sample was decoded in followed the tasks' timing, and llama.cpp's sums, so its tokens,
follow the batch. The cross-process and resume cases are in `tests/test_crash_resume.py`.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import ponder
from ponder.models import EmbeddedChatModel

pytestmark = pytest.mark.embedded

PROBLEM = "A farmer has 17 cows and buys 25 more. How many cows does he have now?"
OTHER = "Tom reads 12 pages a day for 6 days. How many pages does he read?"
OPTIONS: dict[str, Any] = {"max_samples": 6, "agreement": 1.0, "max_tokens": 80, "seed": 7}


def fingerprint(result: ponder.RunResult) -> list[tuple[str, str | None]]:
    return [(c["text"], c["answer"]) for c in result.candidates]


async def test_three_identical_solves_draw_the_same_candidates(
    smollm2: EmbeddedChatModel,
) -> None:
    budget = ponder.Budget(tokens=6000)
    solves = [await ponder.asolve(PROBLEM, model=smollm2, budget=budget, **OPTIONS)]
    solves.append(await ponder.asolve(PROBLEM, model=smollm2, budget=budget, **OPTIONS))
    # The third shares the engine with another run that starts at the same time.
    third, _ = await asyncio.gather(
        ponder.asolve(PROBLEM, model=smollm2, budget=budget, **OPTIONS),
        ponder.asolve(OTHER, model=smollm2, budget=budget, **{**OPTIONS, "seed": 1}),
    )
    solves.append(third)
    assert len(solves[0].candidates) >= 4
    assert len({str(fingerprint(s)) for s in solves}) == 1
    assert len({s.answer for s in solves}) == 1
    assert len({s.usage.tokens for s in solves}) == 1


async def test_not_reproducible_mixes_concurrent_calls(smollm2: EmbeddedChatModel) -> None:
    # The fast mode still works (and batches across runs): a smoke test, not a claim of
    # difference, since two batches can happen to agree.
    model = smollm2.model_copy(update={"reproducible": False})
    result = await ponder.asolve(PROBLEM, model=model, budget=ponder.Budget(tokens=3000))
    assert result.status == "done"
    assert result.candidates
