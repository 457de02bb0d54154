"""A bench driver killed mid-job (SIGKILL to its process group) resumes from the store.

The driver (`tests.distributed.driver`) is its own process, with a local Ray cluster of its
own; once some problems are stored it is killed, Ray's processes with it (any left behind
are killed by the test, by process id), and the same command is run again. The job then
completes with the results of an uninterrupted run, and the log of model calls shows that
no problem stored before the kill ran again: the calls made beyond those the stored runs'
ledgers paid for are only the runs that were in flight. On SQLite and on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("ray")

from ponder.eval import Bench, BenchConfig, ProblemResult, run_bench  # noqa: E402
from ponder.eval._job import run_id_of  # noqa: E402
from ponder.eval.store import BenchStore  # noqa: E402
from ponder.stores import open_store  # noqa: E402
from tests.distributed.driver import BUDGET  # noqa: E402
from tests.distributed.models import scripted  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
PROBLEMS = 8
STORED_BEFORE_KILL = 2


def _dataset(folder: Path) -> str:
    path = folder / "sums.jsonl"
    path.write_text(
        "".join(
            json.dumps({"question": f"Problem {i:02d}: what is {i} + {5 - i}?", "answer": 5}) + "\n"
            for i in range(PROBLEMS)
        )
    )
    return str(path)


def _process_table() -> dict[int, tuple[int, str]]:
    """Every process: its parent and its start time (with the pid, its identity)."""
    table: dict[int, tuple[int, str]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z":  # a zombie has exited (its parent, the driver, is gone)
            table[int(entry)] = (int(fields[1]), fields[19])
    return table


def _descendants(root: int, known: dict[int, str]) -> None:
    """Add ``root``'s descendants now alive to ``known`` (pid -> start time)."""
    table = _process_table()
    children: dict[int, list[int]] = {}
    for pid, (parent, _) in table.items():
        children.setdefault(parent, []).append(pid)
    todo = list(children.get(root, []))
    while todo:
        pid = todo.pop()
        known[pid] = table[pid][1]
        todo += children.get(pid, [])


def _alive(known: dict[int, str]) -> list[int]:
    """The processes of ``known`` still running (the same process: same start time)."""
    table = _process_table()
    return [pid for pid, start in known.items() if pid in table and table[pid][1] == start]


def _reap(known: dict[int, str], *, wait: float = 0.0) -> list[int]:
    """Give ``known`` ``wait`` s to exit, SIGKILL those left and wait for them; return them."""
    deadline = time.monotonic() + wait
    while _alive(known) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = _alive(known)
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 10
    while _alive(known) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def _stored(db: str, bench_id: str) -> list[ProblemResult]:
    async def read() -> list[ProblemResult]:
        async with BenchStore.from_url(db) as store:
            return await store.results(bench_id)

    return asyncio.run(read())


async def _wait_for_progress(
    driver: subprocess.Popen[bytes],
    db: str,
    bench: Bench,
    log: Path,
    tree: dict[int, str],
) -> None:
    """Return once the driver's job has stored `STORED_BEFORE_KILL` results and a run not
    stored yet is midway: 4 calls made (its first step, 3 samples, is checkpointed) and at
    least 2 to go (``bench``, the uninterrupted run, says how many each run makes)."""
    total = {_label(r.problem_index): r.calls for r in bench.results}
    deadline = time.monotonic() + 120
    store: BenchStore | None = None
    try:
        while True:
            assert driver.poll() is None, driver.communicate()[1].decode()[-3000:]
            assert time.monotonic() < deadline, "the driver's job made no progress in 120 s"
            _descendants(driver.pid, tree)
            if store is None:
                opened = BenchStore.from_url(db)
                try:  # the driver may still be creating the tables
                    await opened.setup()
                    store = opened
                except Exception:  # noqa: BLE001
                    await opened.aclose()
            if store is not None:
                results = await store.results(bench.bench_id)
                stored = {_label(r.problem_index) for r in results}
                going = Counter(problem for problem, _ in _calls(log) if problem not in stored)
                midway = [p for p, n in going.items() if 4 <= n <= total[p] - 2]
                if len(stored) >= STORED_BEFORE_KILL and midway:
                    return
            await asyncio.sleep(0.05)
    finally:
        if store is not None:
            await store.aclose()


def _checkpointed(db: str, bench_id: str) -> Counter[str]:
    """The calls in each bench run's ledger at its latest checkpoint, by problem."""

    async def read() -> Counter[str]:
        ledgers: Counter[str] = Counter()
        async with open_store(db) as store:
            for index in range(PROBLEMS):
                key = (index, "self-consistency", BUDGET)
                thread = {
                    "configurable": {"thread_id": run_id_of(bench_id, key), "checkpoint_ns": ""}
                }
                latest = await store.saver.aget_tuple(thread)  # type: ignore[arg-type]
                if latest is not None:
                    values = latest.checkpoint["channel_values"]
                    ledgers[_label(index)] = len(values.get("ledger", []))
        return ledgers

    return asyncio.run(read())


def _calls(log: Path) -> list[tuple[str, int]]:
    if not log.exists():
        return []
    lines = [line.split("\t") for line in log.read_text().splitlines() if line.count("\t") == 2]
    return [(problem, int(seed)) for _, problem, seed in lines]


def _outcome(results: list[ProblemResult]) -> dict[int, tuple[object, ...]]:
    return {
        r.problem_index: (r.status, r.answer, r.correct, r.candidates, r.tokens, r.calls)
        for r in results
    }


def _label(index: int) -> str:
    """A problem as the scripted model logs it."""
    return f"Problem {index:02d}:"


@pytest.fixture
def ray_temp() -> Iterator[str]:
    """A folder for the drivers' Ray files, short (Ray's socket paths must be), removed after."""
    folder = tempfile.mkdtemp(prefix="ray-", dir="/tmp")
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_a_killed_driver_resumes_the_job_from_the_store(
    db: str, tmp_path: Path, ray_temp: str
) -> None:
    dataset = _dataset(tmp_path)
    config = BenchConfig(dataset=dataset, strategies=("self-consistency",), budgets=(BUDGET,))
    reference = run_bench(
        config, db=f"sqlite+aiosqlite:///{tmp_path / 'here.db'}", model=scripted(),
        progress=False,
    )  # fmt: skip
    bench_id = reference.bench_id  # the same bench wherever it runs (model, config, data)
    log = tmp_path / "calls.log"
    command = [sys.executable, "-m", "tests.distributed.driver", dataset, db, str(log), ray_temp]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    tree: dict[int, str] = {}
    driver = subprocess.Popen(
        command, cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        asyncio.run(_wait_for_progress(driver, db, reference, log, tree))
        os.killpg(driver.pid, signal.SIGKILL)  # the driver and its process group
        driver.wait(timeout=10)
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
            driver.wait(timeout=10)
        driver.stdout.close()  # type: ignore[union-attr]
        driver.stderr.close()  # type: ignore[union-attr]
        # Ray's processes outside that group (the workers: Ray would stop them within
        # seconds, after they finish what they run) are killed now, as if the driver's
        # machine went down: their runs in flight are interrupted too.
        outlived = _reap(tree)
    assert tree, "the driver started no Ray processes"
    assert not _alive(tree)
    # What the killed job left: its stored results, and the calls its workers made.
    before = _stored(db, bench_id)
    finished = {r.problem_index: r for r in before}
    assert STORED_BEFORE_KILL <= len(finished) < PROBLEMS
    calls_before = len(_calls(log))
    checkpointed = _checkpointed(db, bench_id)

    again_tree: dict[int, str] = {}
    rerun = subprocess.Popen(
        command, cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        while rerun.poll() is None:
            _descendants(rerun.pid, again_tree)
            time.sleep(0.2)
        out, err = rerun.communicate(timeout=180)
    finally:
        if rerun.poll() is None:
            os.killpg(rerun.pid, signal.SIGKILL)
            rerun.wait(timeout=10)
        leftover = _reap(again_tree, wait=10.0)
    assert rerun.returncode == 0, err.decode()[-3000:]
    assert out.decode().split() == [bench_id]

    final = _stored(db, bench_id)
    assert len(final) == PROBLEMS
    assert all(r.status == "done" and r.error is None for r in final)
    assert _outcome(final) == _outcome(reference.results)
    # No problem stored before the kill ran again: its result is the one stored then, and
    # no call of its was made after the kill.
    for result in final:
        if result.problem_index in finished:
            assert result == finished[result.problem_index]
    calls = _calls(log)
    after = calls[calls_before:]
    assert after, "the second driver made no call"
    assert not {problem for problem, _ in after} & {_label(i) for i in finished}
    # Every call made is in a stored run's ledger, except those made again after the kill:
    # the calls in flight of the runs the kill interrupted.
    made = Counter(calls)
    again = {key for key, count in made.items() if count > 1}
    assert sum(made.values()) - sum(r.calls for r in final) == len(again)
    interrupted = {problem for problem, _ in calls[:calls_before]} - {_label(i) for i in finished}
    assert interrupted, "no run was in flight at the kill"
    assert {problem for problem, _ in again} <= interrupted
    # A run made again only calls past its last checkpoint (the step in flight at the kill):
    # none whose result its checkpointed ledger holds; one killed midway continued.
    paid = Counter(problem for problem, _ in calls[:calls_before])
    redone = Counter(problem for problem, _ in again)
    for problem in interrupted:
        assert redone[problem] <= paid[problem] - checkpointed[problem], problem
    assert any(checkpointed[problem] > 0 for problem in interrupted)
    print(
        f"\nkilled with {len(finished)} of {PROBLEMS} stored, {len(interrupted)} in flight "
        f"(calls made, checkpointed, made again: "
        f"{[(paid[p], checkpointed[p], redone[p]) for p in sorted(interrupted)]}); "
        f"{len(again)} calls made again; of the killed driver's {len(tree)} Ray processes "
        f"{len(outlived)} outlived its process group's kill; {len(leftover)} of the second "
        "driver's were left 10 s after it ended (all killed by the test)"
    )
