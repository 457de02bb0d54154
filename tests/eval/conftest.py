from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import BaseMessage

QUESTIONS = {
    "Ann has 2 apples and gets 3 more. How many apples?": "5",
    "Bob has 9 pens and loses 4. How many pens?": "5",
    "Cid has 4 cats and finds 4 more. How many cats?": "8",
}


@pytest.fixture
def dataset(tmp_path: Path) -> str:
    """A three-problem JSONL file; the scripted model below answers 5 to every one."""
    path = tmp_path / "three.jsonl"
    path.write_text(
        "".join(json.dumps({"question": q, "answer": a}) + "\n" for q, a in QUESTIONS.items())
    )
    return str(path)


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'bench.db'}"


def replying(
    answers: dict[str, str | Exception],
) -> Callable[[list[BaseMessage], dict[str, Any]], str]:
    """A reply function: the answer for the problem whose text is in the prompt."""

    def reply(messages: list[BaseMessage], _options: dict[str, Any]) -> str:
        text = messages[-1].text
        for key, answer in answers.items():
            if key in text:
                if isinstance(answer, Exception):
                    raise answer
                return f"Counting carefully. The answer is {answer}."
        return "The answer is 0."

    return reply
