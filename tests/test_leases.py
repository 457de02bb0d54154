"""One owner per run, on SQLite and on the real PostgreSQL server.

Two resumes of one run at once: one goes on, the other is refused with `RunBusy` before it
calls the model, and the run's ledger holds every call that was made. A killed process's run
is listed ``interrupted`` and resumed by taking its lease over. A live lease, and one held by a
process on another host, refuse; a stale one is taken over.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ponder import runs
from ponder.errors import RunBusy
from ponder.persistence import SqlCheckpointer, leases
from ponder.persistence.leases import LeaseOwner, hold_lease

WORKER = Path(__file__).with_name("lease_worker.py")


def worker(mode: str, db: str, run_id: str, log: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(WORKER), mode, db, run_id, str(log)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def outcome(process: subprocess.Popen[str]) -> dict[str, object]:
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err[-2000:]
    result: dict[str, object] = json.loads(out.strip().splitlines()[-1])
    return result


def go(folder: Path, logs: list[Path]) -> None:
    """Start the waiting workers together, once each says it is ready."""
    deadline = time.monotonic() + 60
    while not all(Path(f"{log}.ready").exists() for log in logs):
        assert time.monotonic() < deadline, "the workers did not start"
        time.sleep(0.01)
    (folder / "go").touch()


def calls_logged(log: Path) -> int:
    return log.read_text().count("\n") if log.exists() else 0


def test_two_resumes_at_once_one_goes_on_and_nothing_is_paid_twice(db: str, tmp_path: Path) -> None:
    start_log = tmp_path / "start.log"
    assert outcome(worker("start", db, "r", start_log)) == {"status": "paused", "calls": 2}
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    both = [worker("resume", db, "r", log) for log in logs]
    go(tmp_path, logs)
    results = [outcome(process) for process in both]
    refused = [r for r in results if r.get("error") == "RunBusy"]
    went_on = [r for r in results if "status" in r]
    assert len(refused) == 1 and len(went_on) == 1, results
    assert "is being worked on by process" in str(refused[0]["message"])
    made = sum(calls_logged(log) for log in logs)
    [loser] = [log for log, r in zip(logs, results, strict=True) if "error" in r]
    assert calls_logged(loser) == 0  # refused before any call
    [record] = runs.list_runs(db=db)
    assert record["status"] == went_on[0]["status"] == "done"
    assert record["calls"] == went_on[0]["calls"] == 2 + made  # every call on the ledger


def test_a_killed_run_is_interrupted_and_its_lease_taken_over(db: str, tmp_path: Path) -> None:
    assert outcome(worker("start", db, "r", tmp_path / "start.log"))["status"] == "paused"
    log = tmp_path / "killed.log"
    process = worker("resume", db, "r", log)
    go(tmp_path, [log])
    deadline = time.monotonic() + 60
    while calls_logged(log) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    [record] = runs.list_runs(db=db)
    assert record["status"] == "running"  # alive: its lease is live
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=30)
    [record] = runs.list_runs(db=db)
    assert record["status"] == "interrupted"
    again = worker("resume-killed", db, "r", tmp_path / "again.log")
    result = outcome(again)
    assert result.get("status") == "done", result
    [record] = runs.list_runs(db=db)
    assert record["status"] == "done"


async def test_a_live_lease_refuses_and_a_stale_one_is_taken_over(db: str) -> None:
    async with SqlCheckpointer.from_url(db) as saver:
        other = LeaseOwner(id="elsewhere:1:x", host="elsewhere", pid=1)
        assert await saver.atake_lease("r", other, now=time.time()) is None
        with pytest.raises(RunBusy, match="process 1 on elsewhere") as refused:
            async with hold_lease(saver, "r"):
                pytest.fail("a live lease must refuse")
        assert (refused.value.run_id, refused.value.host, refused.value.pid) == (
            "r", "elsewhere", 1,
        )  # fmt: skip
        # The other host stops renewing: after STALE_SECONDS its lease is taken over.
        [held] = (await saver.aget_leases(["r"])).values()
        assert not leases.is_dead(held)
        assert leases.is_dead(held, now=held.renewed_at + leases.STALE_SECONDS + 1)
        await saver.atake_over_lease(held, other, now=held.renewed_at - leases.STALE_SECONDS)
        async with hold_lease(saver, "r") as owner:
            [mine] = (await saver.aget_leases(["r"])).values()
            assert mine.owner == owner and owner.pid == os.getpid()
        assert await saver.aget_leases(["r"]) == {}  # released at the end


async def test_a_lease_taken_over_stops_its_old_holder(
    db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    monkeypatch.setattr(leases, "RENEW_SECONDS", 0.05)
    async with SqlCheckpointer.from_url(db) as saver:
        with pytest.raises(RunBusy, match="taken over by another process"):
            async with hold_lease(saver, "r") as owner:
                [held] = (await saver.aget_leases(["r"])).values()
                thief = LeaseOwner(id="thief:2:y", host="thief", pid=2)
                assert await saver.atake_over_lease(held, thief, now=time.time())
                await asyncio.sleep(5)  # cancelled at the next renewal
                pytest.fail("the old holder must stop")
        [kept] = (await saver.aget_leases(["r"])).values()
        assert kept.owner.id == "thief:2:y" and owner.id != kept.owner.id
