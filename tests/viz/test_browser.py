"""The viewer in a real browser: Debian's Chromium, headless, driven by Playwright."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

import ponder
from ponder import runs
from ponder.testing import ScriptedChatModel
from ponder.viz import aload_view, aserve, render_html
from tests.viz.conftest import artifact
from tests.viz.test_html import HOSTILE, hostile_model

# Predicates are functions, not strings: Playwright evaluates a string with eval(), which the
# page's Content-Security-Policy refuses.
READY = "() => window.__ponderReady !== undefined"


async def open_viewer(browser: Any, url: str) -> tuple[Any, list[str]]:
    """Open the viewer page; returns the page and the errors it logs (kept up to date)."""
    page = await browser.new_page(viewport={"width": 1400, "height": 860})
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on(
        "console",
        lambda message: problems.append(message.text) if message.type == "error" else None,
    )
    await page.goto(url)
    await page.wait_for_function(READY)
    return page, problems


@pytest.mark.embedded
async def test_viewer_of_an_embedded_model_run(
    browser: Any, embedded_run: tuple[str, ponder.RunResult], tmp_path: Path
) -> None:
    db, result = embedded_run
    view = await aload_view("emb", db=db)
    page_file = tmp_path / "run.html"
    page_file.write_text(render_html(view), encoding="utf-8")
    page, problems = await open_viewer(browser, page_file.as_uri())
    nodes = page.locator("#tree g.node")
    visible = page.locator("#tree g.node:not(.future)")
    slider = page.locator("#slider")
    # Every candidate of the run is a node, plus the problem; the winning path is highlighted.
    assert await nodes.count() == len(result.candidates) + 1
    assert await page.locator("#tree path.edge").count() == len(result.candidates)
    assert await page.locator("#tree g.node.win").count() == len(view["winning_path"])
    # Click a node: its full text and metadata.
    chosen = result.candidates[-1]
    await page.click(f'#tree g.node[data-id="{chosen["id"]}"]')
    assert await page.text_content("#detail-text") == chosen["text"]
    assert chosen["id"] in (await page.text_content("#detail-title") or "")
    assert chosen["prompt"] in (await page.text_content("#detail-meta") or "")
    # Time travel: at the first checkpoint only the problem was there, then the tree grows.
    await slider.fill("0")
    assert await visible.count() == view["frames"][0]["nodes"] == 1
    assert "checkpoint 1 of" in (await page.text_content("#frame-info") or "")
    middle = len(view["frames"]) // 2
    await slider.fill(str(middle))
    assert await visible.count() == view["frames"][middle]["nodes"]
    await slider.fill(str(len(view["frames"]) - 1))
    assert await visible.count() == len(result.candidates) + 1
    await page.click(f'#tree g.node[data-id="{view["winner"] or chosen["id"]}"]')
    await page.screenshot(path=str(artifact("embedded-run.png")))
    assert problems == []
    await page.close()


async def test_hostile_text_runs_no_script(browser: Any, tmp_path: Path) -> None:
    db = f"sqlite+aiosqlite:///{tmp_path / 'evil.db'}"
    await ponder.asolve(
        HOSTILE[0], model=hostile_model(), db=db, run_id="evil", max_samples=4, programs=0,
        extractor=lambda text: text,
    )  # fmt: skip
    page_file = tmp_path / "evil.html"
    page_file.write_text(render_html(await aload_view("evil", db=db)), encoding="utf-8")
    page = await browser.new_page()
    dialogs: list[str] = []

    async def on_dialog(dialog: Any) -> None:
        dialogs.append(dialog.message)
        await dialog.dismiss()

    page.on("dialog", on_dialog)
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    await page.goto(page_file.as_uri())
    await page.wait_for_function(READY)
    assert await page.locator("#tree g.node").count() == 5
    for index in range(4):
        await page.click(f'#tree g.node[data-id="c{index}"]')
        assert await page.text_content("#detail-text") == HOSTILE[index]
        assert HOSTILE[index] in (await page.text_content("#detail-meta") or "")  # the answer
    assert await page.text_content("#problem") == HOSTILE[0]
    await page.screenshot(path=str(artifact("hostile-run.png")))
    # Nothing ran, and no element came out of the text.
    await page.wait_for_timeout(300)  # time for an onerror or onload to fire, were there one
    assert await page.evaluate("window.__pwned") is None
    assert dialogs == []
    count = "document.querySelectorAll('{}').length"
    assert await page.evaluate(count.format("img, iframe, object, embed, foreignObject")) == 0
    assert await page.evaluate(count.format("script")) == 2
    assert await page.evaluate(count.format("pre *, dd *, li *, #tree text *, #problem *")) == 0
    assert not [text for text in console if "Content Security Policy" in text]
    await page.close()


async def test_served_viewer_follows_a_live_run(browser: Any, tmp_path: Path) -> None:
    db = f"sqlite+aiosqlite:///{tmp_path / 'live.db'}"
    model = ScriptedChatModel(replies=["The answer is 4.", "It is 5."])
    first = await ponder.asolve(
        "2 + 2?", model=model, db=db, run_id="live", budget=ponder.Budget(calls=2),
        max_samples=5, agreement=1.0,
    )  # fmt: skip
    assert first.status == "paused"
    bound: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    server = asyncio.create_task(
        aserve("live", db=db, port=0, poll_ms=200, on_ready=bound.set_result)
    )
    try:
        url = await asyncio.wait_for(bound, 30)
        assert url.startswith("http://127.0.0.1:")
        page, problems = await open_viewer(browser, url)
        assert await page.locator("#tree g.node").count() == 3
        assert await page.is_visible("#live")
        done = await runs.aresume("live", db=db, add_calls=3, model=model)
        assert len(done.candidates) == 5
        await page.wait_for_function(
            "() => document.querySelectorAll('#tree g.node').length === 6", timeout=15_000
        )
        # Following the run: the slider moved on to the newest checkpoint.
        last = len((await aload_view("live", db=db))["frames"])
        await page.wait_for_function(
            f"() => document.getElementById('frame-info').textContent.includes("
            f"'checkpoint {last} of {last}')",
            timeout=15_000,
        )
        assert problems == []
        await page.close()
    finally:
        server.cancel()
        with pytest.raises(asyncio.CancelledError):
            await server
