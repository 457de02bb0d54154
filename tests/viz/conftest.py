"""Fixtures of the viewer tests: runs stored in SQLite, and Debian's Chromium via Playwright."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import BaseMessage

import ponder
from ponder.models import EmbeddedChatModel
from ponder.testing import ScriptedChatModel

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "viewer"


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'runs.db'}"


def tree_model() -> ScriptedChatModel:
    """Tree-search replies: steps that finish at the second level, and value scores by seed."""

    def reply(messages: list[BaseMessage], kwargs: dict[str, Any]) -> str:
        seed = int(kwargs.get("seed") or 0)
        prompt = messages[-1].text
        if "Score:" in prompt:
            return f"Score: {seed % 10}"
        if "(nothing yet)" in prompt:
            return f"First, add {seed} and 3."
        return f"So the answer is {7 + seed % 2}."

    return ScriptedChatModel(reply_fn=reply)


@pytest.fixture(scope="session")
def embedded_run(
    smollm2: EmbeddedChatModel, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, ponder.RunResult]:
    """A small beam search by the real embedded model, stored in SQLite: (db URL, result)."""
    db = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('embedded') / 'runs.db'}"
    result = ponder.solve(
        "What is 7 + 5?", "beam-search", model=smollm2, db=db, run_id="emb",
        budget=ponder.Budget(tokens=3000), beam_width=1, branching=2, max_depth=2,
        step_tokens=32,
    )  # fmt: skip
    return db, result


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    """Debian's Chromium, headless, driven by Playwright (never Playwright's own download).

    Absent outside CI, the browser tests are skipped; in CI (``CI=true``) they fail, since
    `.ci/run` installs the ``chromium`` package.
    """
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: apt-get install chromium (Debian's package)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"the browser tests must run in CI: {message}")
        pytest.skip(message)
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            await launched.close()


def artifact(name: str) -> Path:
    """A path under test-artifacts/viewer/ (ignored by git) for what a test leaves to look at."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / name
