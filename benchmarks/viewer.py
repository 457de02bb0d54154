"""Viewer benchmark: how fast a 2,000-node tree search opens in the run viewer, in Chromium.

1. A real beam search (ponder's graph, SqlCheckpointer on SQLite) with a fast scripted model:
   beam width 20, 5 steps per frontier node, depth 22: 5 + 25 + 20 x 100 = 2,030 step
   nodes; every step also gets a value call. Nothing is synthesized: the viewer reads what
   the run stored.
2. `ponder.viz.load_view` (read every checkpoint, build the view) and `render_html`: time
   and page size.
3. Debian's Chromium (headless, through Playwright), the page opened from a file ``--repeats``
   times, each in a fresh page: time to rendered is the page's ``window.__ponderReady``, a
   ``performance.now()`` taken when the tree, the votes, the chart and the details are drawn
   (so it counts from navigation start: parsing the page and its JSON, layout, the SVG of
   every node and edge). Also: moving the time slider to the middle checkpoint and clicking a
   node (until the next frame is painted).

Run:  .venv/bin/python benchmarks/viewer.py [--repeats 5] [--keep DIR]
Writes benchmarks/results/viewer.json and viewer.md, and prints the table.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import RESULTS, write_report
from langchain_core.messages import BaseMessage
from playwright.sync_api import sync_playwright

import ponder
from ponder.testing import ScriptedChatModel
from ponder.viz import load_view, render_html

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
OPTIONS: dict[str, Any] = {"beam_width": 20, "branching": 5, "max_depth": 22}
BUDGET = 5_000_000


def scripted() -> ScriptedChatModel:
    """Steps that never finish (so the search runs to its depth), and value scores by seed."""

    def reply(messages: list[BaseMessage], kwargs: dict[str, Any]) -> str:
        seed = int(kwargs.get("seed") or 0)
        if "Score:" in messages[-1].text:
            return f"Score: {seed % 10}"
        return f"Add the next pair of numbers, partial sum {seed % 97}."

    return ScriptedChatModel(reply_fn=reply)


def make_run(db: str) -> tuple[str, float, int]:
    started = time.perf_counter()
    result = asyncio.run(
        ponder.asolve(
            "What is 1 + 2 + 3 + ... + 40?",
            "beam-search",
            model=scripted(),
            budget=ponder.Budget(tokens=BUDGET),
            db=db,
            run_id="tree2000",
            **OPTIONS,
        )  # fmt: skip
    )
    return "tree2000", time.perf_counter() - started, len(result.candidates)


def measure_browser(page_file: Path, repeats: int, nodes: int) -> dict[str, Any]:
    ready: list[float] = []
    wall: list[float] = []
    slider: list[float] = []
    click: list[float] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        version = browser.version
        try:
            for _ in range(repeats):
                page = browser.new_page(viewport={"width": 1400, "height": 900})
                started = time.perf_counter()
                page.goto(page_file.as_uri())
                page.wait_for_function("window.__ponderReady !== undefined")
                wall.append((time.perf_counter() - started) * 1000)
                ready.append(float(page.evaluate("window.__ponderReady")))
                drawn = page.locator("#tree g.node").count()
                if drawn != nodes:
                    raise SystemExit(f"the viewer drew {drawn} nodes, the run has {nodes}")
                slider.append(float(page.evaluate(_SLIDE)))
                click.append(float(page.evaluate(_CLICK)))
                page.close()
        finally:
            browser.close()
    return {
        "chromium": version,
        "ready_ms": ready,
        "ready_ms_median": statistics.median(ready),
        "open_wall_ms_median": statistics.median(wall),
        "slider_ms_median": statistics.median(slider),
        "click_ms_median": statistics.median(click),
    }


_SLIDE = """async () => {
  const s = document.getElementById("slider");
  const t = performance.now();
  s.value = String(Math.floor(Number(s.max) / 2));
  s.dispatchEvent(new Event("input"));
  await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
  return performance.now() - t;
}"""

_CLICK = """async () => {
  const nodes = document.querySelectorAll("#tree g.node");
  const t = performance.now();
  nodes[nodes.length - 1].dispatchEvent(new MouseEvent("click", {bubbles: true}));
  await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
  return performance.now() - t;
}"""


def markdown(report: dict[str, Any]) -> str:
    b = report["browser"]
    rows = [
        ("tree nodes (the run's candidates)", f"{report['candidates']:,}"),
        ("checkpoints (time-slider frames)", f"{report['frames']:,}"),
        ("making the run (graph + SQLite checkpointer)", f"{report['run_seconds']:.1f} s"),
        ("load_view (read checkpoints, build view)", f"{report['load_view_ms']:.0f} ms"),
        ("render_html", f"{report['render_html_ms']:.0f} ms"),
        ("HTML file size", f"{report['html_bytes'] / 1e6:.2f} MB"),
        ("**time to rendered in Chromium (median)**", f"**{b['ready_ms_median']:.0f} ms**"),
        ("goto + wait for ready, from Python (median)", f"{b['open_wall_ms_median']:.0f} ms"),
        ("move the time slider (median)", f"{b['slider_ms_median']:.0f} ms"),
        ("click a node, details shown (median)", f"{b['click_ms_median']:.0f} ms"),
    ]
    lines = [
        "# Run viewer: a 2,000-node tree search",
        "",
        f"Beam search ({report['options']}) with a scripted model, stored by SqlCheckpointer"
        f" on SQLite; Chromium {b['chromium']} headless; {report['repeats']} page loads.",
        f"Machine: {report['machine']}. Goal: rendered in under 2,000 ms.",
        "",
        "| measure | value |",
        "|---|---|",
        *(f"| {name} | {value} |" for name, value in rows),
        "",
        "Each load: " + ", ".join(f"{ms:.0f} ms" for ms in b["ready_ms"]) + ".",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--keep", default=None, help="keep the database and page in this folder")
    parser.add_argument("--out", default=str(RESULTS / "viewer"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ponder-viewer-") as scratch:
        folder = Path(args.keep or scratch)
        folder.mkdir(parents=True, exist_ok=True)
        db_file = folder / "tree2000.db"
        db_file.unlink(missing_ok=True)
        db = f"sqlite+aiosqlite:///{db_file}"
        run_id, run_seconds, candidates = make_run(db)
        started = time.perf_counter()
        view = load_view(run_id, db=db)
        load_ms = (time.perf_counter() - started) * 1000
        started = time.perf_counter()
        page = render_html(view)
        render_ms = (time.perf_counter() - started) * 1000
        page_file = folder / "tree2000.html"
        page_file.write_text(page, encoding="utf-8")
        browser = measure_browser(page_file, args.repeats, len(view["nodes"]))
    report = {
        "options": OPTIONS,
        "candidates": candidates,
        "frames": len(view["frames"]),
        "run_seconds": run_seconds,
        "load_view_ms": load_ms,
        "render_html_ms": render_ms,
        "html_bytes": len(page.encode("utf-8")),
        "repeats": args.repeats,
        "browser": browser,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}",
    }
    write_report(report, markdown(report), Path(args.out))


if __name__ == "__main__":
    main()
