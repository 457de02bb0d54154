"""Scripted models (and a job) for the Ray tests, built in each worker from picklable data.

The answer depends on the problem and the sample's seed, so votes disagree and a run takes
several steps; with a log file, every call a worker makes appends ``pid<TAB>problem<TAB>seed``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import BaseMessage

from ponder.distributed import Job
from ponder.testing import ScriptedChatModel


def _problem(messages: list[BaseMessage]) -> str:
    text = messages[-1].text
    marker = text.find("Problem ")
    return text[marker : marker + 12].strip() if marker >= 0 else text[-40:]


def scripted(log: str | None = None, delay: float = 0.0) -> ScriptedChatModel:
    """A scripted model whose answers vary with the seed; logs its calls when ``log``."""

    def reply(messages: list[BaseMessage], options: dict[str, Any]) -> str:
        seed = int(options.get("seed") or 0)
        problem = _problem(messages)
        if log is not None:
            with open(log, "a") as calls:
                calls.write(f"{os.getpid()}\t{problem}\t{seed}\n")
        digits = sum(ord(c) for c in problem)
        return f"Working it out step by step. The answer is {(digits + seed) % 3 + 4}."

    return ScriptedChatModel(reply_fn=reply, delay=delay)


@dataclass(frozen=True)
class PoolJob(Job[int, tuple[int, int | None]]):
    """A job whose items return the worker's process id and the ``pool_size`` it opened with."""

    @contextlib.asynccontextmanager
    async def open(self, *, pool_size: int | None = None) -> AsyncIterator[_PoolWorker]:
        """Remember ``pool_size``."""
        yield _PoolWorker(pool_size)


@dataclass(frozen=True)
class _PoolWorker:
    pool_size: int | None

    async def run(self, item: int) -> tuple[int, int | None]:
        return os.getpid(), self.pool_size
