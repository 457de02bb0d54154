"""Several embedded-model processes on the same cores: the decode turn they take.

The lock itself is tested across real processes (one holds the turn, another waits; a
holder that decodes step after step hands the turn over; ``off`` disables it); one test
runs two embedded-model processes at once. Timings belong in ``benchmarks/cotenancy.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from ponder.models import _decode_lock
from ponder.models._decode_lock import LOCK_ENV, decode_turn, decoding, lock_path

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="no flock: no decode lock")

HOLDER = """
import sys, time
from ponder.models._decode_lock import decode_turn, decoding
mode = sys.argv[1]
if mode == "hold":  # hold one turn until told to stop
    with decode_turn():
        print("held", flush=True)
        sys.stdin.readline()
else:  # decode "steps" of 10 ms for 3 s, keeping the turn between them
    with decoding():
        with decode_turn():
            print("held", flush=True)
        end = time.monotonic() + 3.0
        while time.monotonic() < end:
            with decode_turn():
                time.sleep(0.01)
    print("done", flush=True)
"""


def holder(mode: str, lock: Path) -> subprocess.Popen[str]:
    """Start a process taking the turn on ``lock``; return once it holds it."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, mode],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env={**_env(), LOCK_ENV: str(lock)},
    )  # fmt: skip
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "held"
    return proc


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != LOCK_ENV}


def take_in_thread() -> threading.Event:
    """Take one turn in a thread of this process; the event is set once it got it."""
    got = threading.Event()

    def take() -> None:
        with decode_turn():
            got.set()

    threading.Thread(target=take, daemon=True).start()
    return got


def test_the_lock_file_is_per_user_and_can_be_named_or_disabled(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(LOCK_ENV, raising=False)
    default = lock_path()
    assert default is not None and default.endswith(f"ponder-decode-{os.getuid()}.lock")
    monkeypatch.setenv(LOCK_ENV, str(tmp_path / "mine.lock"))
    assert lock_path() == str(tmp_path / "mine.lock")
    monkeypatch.setenv(LOCK_ENV, "OFF")
    assert lock_path() is None


def test_a_process_waits_while_another_holds_the_turn(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    lock = tmp_path / "decode.lock"
    monkeypatch.setenv(LOCK_ENV, str(lock))
    proc = holder("hold", lock)
    try:
        got = take_in_thread()
        assert not got.wait(0.5)  # the other process holds it
        assert proc.stdin is not None
        proc.stdin.write("release\n")
        proc.stdin.flush()
        assert got.wait(30)
    finally:
        proc.communicate(timeout=30)
    assert proc.returncode == 0


def test_off_disables_the_lock(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    lock = tmp_path / "decode.lock"
    proc = holder("hold", lock)
    try:
        monkeypatch.setenv(LOCK_ENV, "off")
        with decode_turn():
            pass  # not blocked by the holder
        monkeypatch.setenv(LOCK_ENV, str(tmp_path / "another.lock"))
        with decode_turn():
            pass  # another file: another turn
    finally:
        proc.communicate("release\n", timeout=30)


def test_a_process_decoding_step_after_step_hands_the_turn_over(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The holder keeps the turn between its steps, but not past a quantum while we wait."""
    lock = tmp_path / "decode.lock"
    monkeypatch.setenv(LOCK_ENV, str(lock))
    proc = holder("steps", lock)
    try:
        got = take_in_thread()
        assert got.wait(30)
        assert proc.poll() is None  # it got its turn while the other still decodes
    finally:
        out, _ = proc.communicate(timeout=30)
    assert out.strip() == "done" and proc.returncode == 0


def test_threads_of_one_process_take_turns_too(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(LOCK_ENV, str(tmp_path / "decode.lock"))
    inside = 0
    most = 0
    guard = threading.Lock()

    def steps() -> None:
        nonlocal inside, most
        with decoding():
            for _ in range(20):
                with decode_turn():
                    with guard:
                        inside += 1
                        most = max(most, inside)
                    time.sleep(0.002)
                    with guard:
                        inside -= 1

    threads = [threading.Thread(target=steps) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert most == 1
    assert not _decode_lock._TURN.held()


def test_an_exception_inside_decoding_gives_the_turn_up(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(LOCK_ENV, str(tmp_path / "decode.lock"))
    with pytest.raises(RuntimeError), decoding():
        with decode_turn():
            raise RuntimeError("llama.cpp failed")
    assert not _decode_lock._TURN.held()
    proc = holder("hold", tmp_path / "decode.lock")  # another process can take it
    proc.communicate("release\n", timeout=30)


SAMPLER = """
import json, sys
from ponder.models import EmbeddedChatModel
model = EmbeddedChatModel.from_name("smollm2", batched=sys.argv[1] == "batched")
model.generate_n("Name a fruit.", 1, seeds=[0], max_tokens=2)
print("ready", flush=True)
sys.stdin.readline()
replies = model.generate_n(
    "Write a short poem about the sea.", 2, seeds=[1, 2], max_tokens=48, temperature=0.7
)
print(json.dumps([[r.text, r.usage_metadata["output_tokens"]] for r in replies]))
"""


@pytest.mark.embedded
def test_embedded_processes_at_once_all_finish(tmp_path: Path) -> None:
    """Two batched processes and a sequential one, released together, all produce output;
    the two batched ones the same texts (the turn changes nothing in what is computed)."""
    env = {**_env(), LOCK_ENV: str(tmp_path / "decode.lock")}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", SAMPLER, mode],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        for mode in ("batched", "batched", "sequential")
    ]
    results: list[Any] = []
    try:
        for proc in procs:
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "ready"
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        for proc in procs:
            out, _ = proc.communicate(timeout=600)
            assert proc.returncode == 0
            results.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    for samples in results:
        assert len(samples) == 2
        assert all(text and tokens > 0 for text, tokens in samples)
    assert results[0] == results[1]
