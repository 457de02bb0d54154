"""A ponder run in its own process, for the lease tests: resumes with a slow scripted model.

Usage: python tests/lease_worker.py start|resume|resume-killed DB RUN_ID LOG

``start`` records a run that pauses after two calls; ``resume`` waits until the folder of LOG
holds a file ``go``, then tops the run up and goes on, each
call taking 0.2 s and appending a line to LOG. Prints one JSON line: the outcome's status, or
the ponder error's class name and message.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from langchain_core.messages import BaseMessage

import ponder
from ponder import runs
from ponder.errors import PonderError
from ponder.testing import ScriptedChatModel


def model(log: str) -> ScriptedChatModel:
    def reply(messages: list[BaseMessage], kwargs: dict[str, Any]) -> str:
        with open(log, "a") as out:
            out.write(f"{kwargs['seed']}\n")
        return f"The answer is {kwargs['seed'] % 3}."

    return ScriptedChatModel(reply_fn=reply, delay=0.2)


def wait_for_go(log: str) -> None:
    """Say this process is ready (``LOG.ready``), then wait for ``LOG``'s folder's ``go``."""
    folder = Path(log).parent
    Path(f"{log}.ready").touch()
    deadline = time.monotonic() + 60
    while not (folder / "go").exists() and time.monotonic() < deadline:
        time.sleep(0.005)


def main() -> None:
    mode, db, run_id, log = sys.argv[1:5]
    if mode == "resume":
        wait_for_go(log)
    try:
        if mode == "start":
            result = ponder.solve(
                "q", model=model(log), budget=ponder.Budget(calls=2), db=db, run_id=run_id,
                max_samples=12, agreement=1.0, programs=0,
            )  # fmt: skip
        elif mode == "resume":
            result = runs.resume(run_id, db=db, add_calls=10, model=model(log))
        else:  # resume-killed: go on from where a killed resume stopped, no top-up
            result = runs.resume(run_id, db=db, model=model(log))
    except PonderError as exc:
        print(json.dumps({"error": type(exc).__name__, "message": str(exc)}))
        return
    print(json.dumps({"status": result.status, "calls": result.usage.calls}))


if __name__ == "__main__":
    main()
