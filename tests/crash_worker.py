"""A ponder run in its own process, for the crash tests: it logs every model call it makes.

Usage: python tests/crash_worker.py solve|resume DB RUN_ID STRATEGY LOG
"""

from __future__ import annotations

import hashlib
import json
import sys
from typing import Any, cast

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatResult

import ponder
from ponder import runs
from ponder.graphs import StrategyName
from ponder.models import EmbeddedChatModel

PROBLEM = "Sara had 15 pencils and gave away 6. How many pencils does she have left?"
OPTIONS: dict[str, dict[str, Any]] = {
    "self-consistency": {"max_samples": 6, "agreement": 1.0, "max_tokens": 96},
    "best-of-n": {"n": 6, "max_tokens": 96},
    "refine": {"max_rounds": 2, "max_tokens": 96, "critique_tokens": 48},
}


def digest(text: str) -> str:
    return hashlib.sha256(text.strip().encode()).hexdigest()[:16]


class LoggingModel(EmbeddedChatModel):
    """The embedded model, appending one line per finished call to a log file."""

    log_path: str

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        # The async path, as ponder's runs call it: the step's calls still reach the engine
        # as one group (overriding `_generate` would send each through a thread on its own).
        result = await super()._agenerate(messages, stop, run_manager, **kwargs)
        line = {
            "prompt": digest("\n".join(m.text for m in messages)),
            "reply": digest(result.generations[0].message.text),
        }
        with open(self.log_path, "a") as log:
            log.write(json.dumps(line) + "\n")
            log.flush()
        return result


def main() -> None:
    mode, db, run_id, strategy, log = sys.argv[1:6]
    base = EmbeddedChatModel.from_name("smollm2")
    model = LoggingModel(model_path=base.model_path, log_path=log)
    # A verifier that accepts nothing (the answer is 9): every run goes to its end, so there
    # are many calls to kill in the middle of.
    verifier = ponder.ExpectedAnswer("10")
    if mode == "solve":
        ponder.solve(
            PROBLEM, cast(StrategyName, strategy), model=model, verifier=verifier, db=db,
            run_id=run_id, budget=ponder.Budget(tokens=6000), **OPTIONS[strategy],
        )  # fmt: skip
    else:
        runs.resume(run_id, db=db, model=model, verifier=verifier)


if __name__ == "__main__":
    main()
