"""A bench killed with SIGKILL mid-run resumes where it stopped: nothing stored is run again."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

WORKER = Path(__file__).with_name("bench_worker.py")
PROBLEMS = 6


def _rows(path: Path) -> dict[tuple[str, int, int], float]:
    if not path.exists():
        return {}
    with sqlite3.connect(path) as connection:
        try:
            rows = connection.execute(
                "SELECT strategy, budget, problem_index, created_at FROM ponder_bench_results"
            ).fetchall()
        except sqlite3.OperationalError:  # the tables are not there yet
            return {}
    return {(s, b, i): created for s, b, i, created in rows}


def _start(db: Path, dataset: Path, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, str(WORKER), f"sqlite+aiosqlite:///{db}", str(dataset), str(log)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip


def test_a_killed_bench_resumes_where_it_stopped(tmp_path: Path) -> None:
    dataset = tmp_path / "sums.jsonl"
    dataset.write_text(
        "".join(
            json.dumps({"question": f"Problem {i}: what is {i} + {5 - i}?", "answer": 5}) + "\n"
            for i in range(PROBLEMS)
        )
    )
    db, log = tmp_path / "bench.db", tmp_path / "calls.log"
    worker = _start(db, dataset, log)
    deadline = time.monotonic() + 120
    while len(_rows(db)) < 3:
        assert worker.poll() is None, worker.stderr.read() if worker.stderr else ""
        assert time.monotonic() < deadline, "the worker stored nothing in time"
        time.sleep(0.05)
    os.kill(worker.pid, signal.SIGKILL)
    worker.communicate()
    assert worker.returncode == -signal.SIGKILL
    before = _rows(db)
    total = PROBLEMS * 2
    assert 3 <= len(before) < total
    calls_before = len(log.read_text().splitlines())

    resumed = _start(db, dataset, log)
    _, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err.decode()
    after = _rows(db)
    assert len(after) == total
    # What was stored before the kill was not run again (its rows were not rewritten) ...
    assert all(after[key] == created for key, created in before.items())
    # ... and the resumed process asked the model only about the problems not yet stored.
    resumed_calls = log.read_text().splitlines()[calls_before:]
    stored_problems = {index for (_, _, index) in before if all(
        (s, b, index) in before for s in ("self-consistency",) for b in (700, 1400)
    )}  # fmt: skip
    asked = {int(line.split(":")[0].removeprefix("Problem ")) for line in resumed_calls}
    assert asked and not asked & stored_problems
    with sqlite3.connect(db) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
