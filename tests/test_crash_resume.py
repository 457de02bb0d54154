"""Kill real solves with SIGKILL at random points, resume them, and check nothing is paid twice.

Each trial runs a solve on the embedded model in a subprocess that logs every model call it
finishes (a hash of the prompt and of the reply), kills it at a random moment, reads what the
checkpoint holds, resumes the run in a second subprocess, and checks that:

- the killed run is listed as ``interrupted`` (its process is gone, so is its lease);
- the resumed run completes, also when the resume itself is killed once (every third trial)
  and resumed again;
- no call whose result was checkpointed before the kill was made again (a call in flight at
  the kill, or finished but not yet checkpointed, may be redone: it was never saved);
- the run ends with the same candidates, in the same order, as the same run left alone
  (the step's calls are decoded as one group from an empty cache: see
  `ponder.models.embedded`, "Reproducibility");
- the SQLite file passes ``PRAGMA integrity_check``.
"""

from __future__ import annotations

import asyncio
import json
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ponder import runs
from ponder.graphs.registry import make_config, strategy_spec
from ponder.setup import open_store, persisted_graph

pytestmark = pytest.mark.embedded

WORKER = Path(__file__).with_name("crash_worker.py")
STRATEGIES = ("self-consistency", "best-of-n", "refine")
TRIALS = 21


def worker(mode: str, db: str, run_id: str, strategy: str, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, str(WORKER), mode, db, run_id, strategy, str(log)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE if mode == "resume" else subprocess.DEVNULL,
    )  # fmt: skip


def finished_calls(log: Path) -> int:
    """Model calls the worker has logged so far (whole lines only: it may be mid-write)."""
    return log.read_text().count("\n") if log.exists() else 0


def logged(log: Path) -> list[tuple[str, str]]:
    if not log.exists():
        return []
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    return [(line["prompt"], line["reply"]) for line in lines]


async def checkpointed_replies(db: str, run_id: str, strategy: str) -> tuple[set[str], str]:
    """Hashes of every model reply the run's latest checkpoint holds, and the run's status."""
    texts, status = await checkpointed_texts(db, run_id, strategy)
    return {digest(t) for t in texts}, status


def digest(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.strip().encode()).hexdigest()[:16]


async def checkpointed_texts(db: str, run_id: str, strategy: str) -> tuple[list[str], str]:
    """Every candidate text (and critique) the run's latest checkpoint holds, in order."""
    spec = strategy_spec(strategy)
    async with open_store(db) as store:
        record = await store.aget_run(run_id)
        if record is None:
            return [], "missing"
        config = make_config(spec, record["options"])
        state = await persisted_graph(spec, config, store.saver).aget_state(
            {"configurable": {"thread_id": run_id}}
        )
    texts: list[str] = []
    for candidate in (state.values or {}).get("candidates", []):
        texts.append(candidate["text"])
        if candidate["critique"] is not None:
            texts.append(candidate["critique"])
    return texts, record["status"]


def listed_status(db: str, run_id: str) -> str:
    return next(r["status"] for r in runs.list_runs(db=db) if r["run_id"] == run_id)


def kill_after(process: subprocess.Popen[bytes], log: Path, calls: int, delay: float) -> bool:
    """Kill ``process`` once it has logged ``calls`` model calls, plus ``delay`` seconds."""
    deadline = time.monotonic() + 120
    while process.poll() is None and finished_calls(log) < calls:
        if time.monotonic() > deadline:
            break
        time.sleep(0.02)
    time.sleep(delay)
    killed = process.poll() is None
    if killed:
        process.send_signal(signal.SIGKILL)
    process.communicate(timeout=60)
    return killed


def reference_runs(tmp_path: Path) -> dict[str, list[str]]:
    """Each strategy's candidate texts when its run is left alone."""
    references = {}
    for strategy in STRATEGIES:
        db = f"sqlite+aiosqlite:///{tmp_path / f'reference-{strategy}.db'}"
        process = worker("solve", db, "reference", strategy, tmp_path / f"{strategy}.log")
        process.communicate(timeout=600)
        assert process.returncode == 0
        texts, status = asyncio.run(checkpointed_texts(db, "reference", strategy))
        assert status == "done"
        references[strategy] = texts
    return references


def test_killed_runs_resume_without_paying_twice(tmp_path: Path) -> None:
    rng = random.Random(20261128)
    killed = 0
    references = reference_runs(tmp_path)
    for trial in range(TRIALS):
        strategy = STRATEGIES[trial % len(STRATEGIES)]
        path = tmp_path / f"trial{trial}.db"
        db = f"sqlite+aiosqlite:///{path}"
        first_log, second_log = tmp_path / f"t{trial}-1.log", tmp_path / f"t{trial}-2.log"
        run_id = f"crash{trial}"
        process = worker("solve", db, run_id, strategy, first_log)
        # Kill at a random point of the run's progress, not of the clock (batched sampling
        # makes a run's length vary a lot with the machine's load): once the worker has
        # finished `calls` model calls (0: while loading or in the first call), plus a delay.
        killed += kill_after(process, first_log, rng.randint(0, 4), rng.uniform(0.0, 0.5))
        replies, status = asyncio.run(checkpointed_replies(db, run_id, strategy))
        if status == "missing":
            continue  # killed before the run was even recorded: nothing to resume
        saved = {pair for pair in logged(first_log) if pair[1] in replies}
        if status == "running":
            assert listed_status(db, run_id) == "interrupted"
            if trial % 3 == 0:  # kill the resume too, then resume again
                resumed = worker("resume", db, run_id, strategy, second_log)
                kill_after(resumed, second_log, rng.randint(0, 2), rng.uniform(0.0, 0.5))
                _, status = asyncio.run(checkpointed_replies(db, run_id, strategy))
                if status == "running":
                    assert listed_status(db, run_id) == "interrupted"
        if status == "running":
            resumed = worker("resume", db, run_id, strategy, second_log)
            _, err = resumed.communicate(timeout=600)
            assert resumed.returncode == 0, err.decode()[-2000:]
            redone = saved & set(logged(second_log))
            assert not redone, f"trial {trial} ({strategy}): checkpointed calls ran again"
            _, final = asyncio.run(checkpointed_replies(db, run_id, strategy))
            assert final in ("done", "paused"), f"trial {trial}: ended {final}"
            assert listed_status(db, run_id) == final
        texts, status = asyncio.run(checkpointed_texts(db, run_id, strategy))
        if status == "done":
            assert texts == references[strategy], f"trial {trial} ({strategy}): another run"
        with sqlite3.connect(path) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert killed >= 15, f"only {killed} of {TRIALS} trials were killed mid-run"
