"""A bench in its own process, for the kill-and-resume test.

Usage: python tests/eval/bench_worker.py DB DATASET CALLS_LOG
Every model call appends a line to CALLS_LOG; each call takes 0.3 s.
"""

from __future__ import annotations

import sys
from typing import Any

from langchain_core.messages import BaseMessage

from ponder.eval import BenchConfig, run_bench
from ponder.testing import ScriptedChatModel


def main() -> None:
    db, dataset, log = sys.argv[1:4]

    def reply(messages: list[BaseMessage], _options: dict[str, Any]) -> str:
        with open(log, "a") as calls:
            calls.write(messages[-1].text.splitlines()[-1][:40] + "\n")
        return "I add them up. The answer is 5."

    model = ScriptedChatModel(reply_fn=reply, delay=0.3)
    config = BenchConfig(dataset=dataset, strategies=("self-consistency",), budgets=(700, 1400))
    run_bench(config, db=db, model=model, progress=False)


if __name__ == "__main__":
    main()
