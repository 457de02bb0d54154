"""The viewer page: one self-contained file, and model text that cannot break out of it."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from typing import Any

import pytest
from langchain_core.messages import BaseMessage

import ponder
from ponder.testing import ScriptedChatModel
from ponder.viz import aload_view, embed_json, render_html
from ponder.viz.html import example_view

HOSTILE = [
    "</script><script>window.__pwned = 1; alert(1)</script>",
    '<img src=x onerror="window.__pwned = 2; alert(2)">',
    '<svg onload="window.__pwned = 3"></svg><!-- \u2028\u2029 & &amp; --> ]]>',
    "{{script}} {{data}} </SCRIPT >",
]


def hostile_model() -> ScriptedChatModel:
    def reply(messages: list[BaseMessage], kwargs: dict[str, Any]) -> str:
        return HOSTILE[int(kwargs.get("seed") or 0) % len(HOSTILE)]

    return ScriptedChatModel(reply_fn=reply)


def data_block(page: str) -> Any:
    match = re.search(
        r'<script type="application/json" id="ponder-data">(.*?)</script>', page, re.DOTALL
    )
    assert match is not None
    return json.loads(match.group(1))


def test_embed_json_escapes_what_could_end_the_script() -> None:
    text = embed_json({"t": "</script><!--&\u2028\u2029>"})
    assert not set("<>&\u2028\u2029") & set(text)
    assert json.loads(text) == {"t": "</script><!--&\u2028\u2029>"}


async def hostile_page(db: str) -> tuple[str, Any]:
    await ponder.asolve(
        HOSTILE[0], model=hostile_model(), db=db, run_id="evil", max_samples=4, select="majority",
        extractor=lambda text: text,  # the hostile text is the answer too (labels, votes)
    )  # fmt: skip
    view = await aload_view("evil", db=db)
    return render_html(view), view


async def test_hostile_text_stays_inside_the_json_block(db: str) -> None:
    page, view = await hostile_page(db)
    # Only the page's own two script elements; nothing of the model's text as markup.
    assert len(re.findall(r"<script", page, re.IGNORECASE)) == 2
    assert len(re.findall(r"</script", page, re.IGNORECASE)) == 2
    assert "onerror" not in page.split('id="ponder-data">')[0]
    for payload in HOSTILE:
        assert payload not in page
    # The block decodes to the view exactly, hostile text included.
    data = data_block(page)
    assert data["view"] == json.loads(json.dumps(view))
    assert {n["text"] for n in data["view"]["nodes"][1:]} == set(HOSTILE)
    assert data["view"]["run"]["problem"] == HOSTILE[0]


def test_page_is_self_contained_with_a_strict_policy() -> None:
    page = render_html(example_view())
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "<link" not in page and "@import" not in page
    script = re.search(r"<script>(.*?)</script>", page, re.DOTALL)
    assert script is not None
    digest = base64.b64encode(hashlib.sha256(script.group(1).encode()).digest()).decode()
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', page)
    assert policy is not None
    assert f"script-src 'sha256-{digest}'" in policy.group(1)
    assert "default-src 'none'" in policy.group(1)
    assert "unsafe-inline" not in policy.group(1).split("style-src")[0]
    expected = {"view": example_view(), "poll": None, "poll_ms": 1000}
    assert data_block(page) == json.loads(json.dumps(expected))


def test_the_script_inserts_text_with_text_content_only() -> None:
    from importlib import resources

    script = (resources.files("ponder.viz") / "assets" / "viewer.js").read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in script
    assert "textContent" in script


@pytest.mark.parametrize("poll", [None, "run.json"])
def test_poll_setting(poll: str | None) -> None:
    assert data_block(render_html(example_view(), poll=poll))["poll"] == poll
