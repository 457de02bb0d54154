r"""The run viewer as one self-contained HTML file.

`render_html` fills the page template shipped in ``ponder/viz/assets/`` with its style, its
script (hand-written, no library, nothing fetched from a CDN) and the run's `RunView` as JSON.

Model text cannot break out of the page:

- the data sits in a ``<script type="application/json">`` block, with ``<``, ``>``, ``&``,
  U+2028 and U+2029 written as JSON ``\\u`` escapes, so ``</script>`` inside a candidate is
  just characters of a JSON string;
- the script inserts model text with ``textContent`` only;
- the page's Content-Security-Policy lets run only the viewer's own script (by its SHA-256
  hash): an inline handler or an injected ``<script>`` would be refused even if one got in.

Example:
    >>> page = render_html(example_view())
    >>> page.startswith("<!DOCTYPE html>") and page.count("</script>") == 2
    True
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import re
from importlib import resources
from typing import Any, cast

from ponder.viz.viewer import VIEW_FORMAT, RunView

__all__ = ("embed_json", "example_view", "render_html")

_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}
_UNSAFE = re.compile("[<>&\u2028\u2029]")
_SLOT = re.compile(r"\{\{(\w+)\}\}")


def embed_json(data: Any) -> str:
    r"""Return ``data`` as JSON that is safe inside an HTML ``<script>`` element.

    Example:
        >>> embed_json({"text": "</script><b>"})
        '{"text": "\\u003c/script\\u003e\\u003cb\\u003e"}'
    """
    text = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(", ", ": "))
    return _UNSAFE.sub(lambda match: _ESCAPES[match.group(0)], text)


@functools.cache
def _asset(name: str) -> str:
    return (resources.files("ponder.viz") / "assets" / name).read_text(encoding="utf-8")


def _sha256(text: str) -> str:
    return base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")


def render_html(view: RunView, *, poll: str | None = None, poll_ms: int = 1000) -> str:
    """Return the viewer page for ``view``: one HTML file with everything inline.

    Args:
        view: The run's data (`ponder.viz.load_view`).
        poll: A URL the page polls for a newer `RunView` (``ponder show --serve``), relative
            to the page; ``None`` for a static file.
        poll_ms: Milliseconds between polls.
    """
    script = _asset("viewer.js")
    if "</script" in script.lower():  # the script must not end its own element
        raise AssertionError("viewer.js contains </script")
    csp = "; ".join(
        (
            "default-src 'none'",
            f"script-src 'sha256-{_sha256(script)}'",
            "style-src 'unsafe-inline'",
            "img-src data:",
            "connect-src 'self'",
            "base-uri 'none'",
            "form-action 'none'",
        )
    )
    slots = {
        "csp": csp,
        "style": _asset("viewer.css"),
        "script": script,
        "data": embed_json({"view": view, "poll": poll, "poll_ms": poll_ms}),
    }
    # One pass: text put into a slot is never scanned for further slots.
    return _SLOT.sub(lambda match: slots[match.group(1)], _asset("viewer.html"))


def example_view() -> RunView:
    """Return a small hand-made view (a problem and two candidates), for examples and tests."""
    node: dict[str, Any] = {
        "strategy": "self-consistency", "node": "attempt", "prompt": "few_shot",
        "score": None, "verdict": None, "reason": None, "critique": None, "tokens_in": 10,
        "tokens_out": 5, "latency_s": 0.1, "temperature": 0.7, "seed": 0,
        "finish_reason": "stop", "depth": 1, "judged": None, "on_path": False,
        "votes_for_answer": True,
    }  # fmt: skip
    root = {
        **node, "id": "root", "parent": None, "kind": "problem", "text": "2 + 2?",
        "answer": None, "depth": 0, "born": 0, "strategy": "", "votes_for_answer": False,
    }  # fmt: skip
    first = {
        **node, "id": "c0", "parent": "root", "kind": "attempt", "text": "It is 4.",
        "answer": "4", "born": 1, "on_path": True,
    }  # fmt: skip
    second = {
        **node, "id": "c1", "parent": "root", "kind": "attempt", "text": "4, surely.",
        "answer": "4", "born": 2, "seed": 1,
    }  # fmt: skip
    frames = [
        {"checkpoint_id": str(i), "namespace": "self-consistency", "step": i,
         "seconds": i / 10, "tokens": 15 * i, "calls": i, "cost": 0.0, "nodes": i + 1}
        for i in range(3)
    ]  # fmt: skip
    budget = {"tokens": 100, "calls": None, "seconds": None, "cost": None, "price_in": 0.0,
              "price_out": 0.0}  # fmt: skip
    run = {
        "run_id": "example", "strategy": "self-consistency", "problem": "2 + 2?",
        "options": {}, "model": None, "status": "done", "stop_reason": "converged",
        "answer": "4", "budget": budget, "tokens": 30, "calls": 2, "seconds": 0.3,
        "created_at": 0.0, "updated_at": 0.3,
    }  # fmt: skip
    return cast(
        RunView,
        {
            "format": VIEW_FORMAT, "run": run, "nodes": [root, first, second],
            "edges": [["root", "c0"], ["root", "c1"]], "frames": frames, "votes": {"4": 2},
            "answer": "4", "winner": "c0", "winning_path": ["root", "c0"], "errors": [],
        },
    )  # fmt: skip
