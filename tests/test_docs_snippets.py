"""Every ``python`` code block of README.md and of the docs site runs, as a reader would run it.

Each block runs alone: in a fresh module namespace, in a temporary working directory (so a
``ponder.db`` it writes lands there), and top-level ``await`` allowed (a block that awaits
runs in ``asyncio.run``). How it runs is said by an HTML comment on the line before the
block (docs/guides/snippets.md documents it for writers):

- no comment: ponder's default model (``model=None``, ``"smollm2"``, ``resolve_model(None)``)
  is a `ponder.testing.ScriptedChatModel` answering ``17 + 25 = 42. The answer is 42.``
  (`EmbeddedChatModel.from_name` is replaced), so the block's graph logic runs in
  milliseconds; a block that builds its own model uses it;
- ``<!-- snippet: embedded -->``: the real embedded model (tests marked ``embedded``);
- ``<!-- snippet: postgres -->`` (may be combined: ``embedded, postgres``): the block's
  ``?schema=ponder`` URLs are pointed at a fresh schema of the test PostgreSQL server, dropped
  afterwards;
- ``<!-- snippet: skip (why) -->``: not run (a hosted model's API key, a server), and the
  test is reported skipped with that reason.

Blocks run against the shipped strategies only: one that registers a strategy (the README's
``first-answer``) does so in a copy of the registry, restored afterwards.
"""

from __future__ import annotations

import ast
import asyncio
import functools
import inspect
import re
import sys
import textwrap
import types
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args
from unittest import mock

import pytest

from ponder import context
from ponder.graphs import registry
from ponder.graphs.registry import STRATEGIES, StrategyName
from ponder.models.embedded import EmbeddedChatModel
from ponder.models.resolve import resolve_model
from ponder.testing import ScriptedChatModel
from tests.persistence.conftest import drop_schemas

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
SCRIPTED_REPLY = "17 + 25 = 42. The answer is 42."
"""What the scripted default model answers, every call."""

_FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<lang>[\w+-]*)[ \t]*$")
_DIRECTIVE = re.compile(r"^\s*<!--\s*snippet:\s*(?P<body>.*?)\s*-->\s*$")
_SKIP = re.compile(r"^skip\s*\((?P<why>.+)\)$")
_MODES = frozenset({"embedded", "postgres"})


@dataclass(frozen=True)
class Snippet:
    """One ``python`` block of a markdown file."""

    path: Path
    line: int
    """The line of its opening fence (1-based)."""
    code: str
    modes: frozenset[str]
    skip: str | None
    """Why it is not run, when it is not."""

    @property
    def name(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def snippets(path: Path) -> list[Snippet]:
    """Return the ``python`` blocks of ``path``, with the directive before each."""
    lines = path.read_text().splitlines()
    found: list[Snippet] = []
    index = 0
    while index < len(lines):
        fence = _FENCE.match(lines[index])
        if fence is None:
            index += 1
            continue
        start, indent = index, fence["indent"]
        index += 1
        while index < len(lines) and lines[index].strip() != "```":
            index += 1
        if fence["lang"] == "python":
            body = [line.removeprefix(indent) for line in lines[start + 1 : index]]
            found.append(_snippet(path, start, lines, textwrap.dedent("\n".join(body))))
        index += 1
    return found


def _snippet(path: Path, start: int, lines: list[str], code: str) -> Snippet:
    before = start - 1
    while before >= 0 and not lines[before].strip():
        before -= 1
    directive = _DIRECTIVE.match(lines[before]) if before >= 0 else None
    modes: set[str] = set()
    skip = None
    if directive is not None:
        body = directive["body"]
        skipped = _SKIP.match(body)
        if skipped is not None:
            skip = skipped["why"]
        else:
            modes = {part.strip() for part in body.split(",")}
            unknown = modes - _MODES
            if unknown:
                raise ValueError(f"{path}:{start + 1}: unknown snippet mode(s) {sorted(unknown)}")
    return Snippet(path, start + 1, code, frozenset(modes), skip)


ALL = [snippet for path in SOURCES for snippet in snippets(path)]


def _params() -> list[Any]:
    params = []
    for snippet in ALL:
        marks = [pytest.mark.embedded] if "embedded" in snippet.modes else []
        params.append(pytest.param(snippet, id=snippet.name, marks=marks))
    return params


@pytest.fixture
def shipped_strategies() -> Iterator[None]:
    """The registry holds the shipped strategies only while a block runs, and is restored."""
    shipped = {name: spec for name, spec in STRATEGIES.items() if name in get_args(StrategyName)}
    with mock.patch.dict(STRATEGIES, shipped, clear=True):
        registry.compiled.cache_clear()
        yield
    registry.compiled.cache_clear()


def _scripted_default(monkeypatch: pytest.MonkeyPatch) -> None:
    def from_name(cls: type, /, name: str = "smollm2", **kwargs: Any) -> ScriptedChatModel:
        return ScriptedChatModel(replies=[SCRIPTED_REPLY])

    monkeypatch.setattr(EmbeddedChatModel, "from_name", classmethod(from_name))
    # A JSON context's model spec is resolved once per process: a fresh cache for the block.
    monkeypatch.setattr(context, "_named_model", functools.lru_cache(maxsize=32)(resolve_model))


def run_snippet(code: str, name: str) -> dict[str, Any]:
    """Run ``code`` as module ``name`` (registered while it runs); return its namespace."""
    module = types.ModuleType(name)
    sys.modules[name] = module
    try:
        compiled = compile(code, name, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        if compiled.co_flags & inspect.CO_COROUTINE:
            asyncio.run(eval(compiled, module.__dict__))  # noqa: S307 - the docs' own code
        else:
            exec(compiled, module.__dict__)  # noqa: S102 - the docs' own code
    finally:
        del sys.modules[name]
    return module.__dict__


def test_every_source_has_blocks() -> None:
    # The README and the guides hold python blocks; a parser gone wrong would find none.
    counted = {snippet.path.name for snippet in ALL}
    assert "README.md" in counted and len(ALL) >= 10


@pytest.mark.usefixtures("shipped_strategies")
@pytest.mark.parametrize("snippet", _params())
def test_snippet_runs(
    snippet: Snippet,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if snippet.skip is not None:
        pytest.skip(f"{snippet.name}: {snippet.skip}")
    monkeypatch.chdir(tmp_path)
    code = snippet.code
    schema = None
    if "postgres" in snippet.modes:
        assert "?schema=ponder" in code, "a postgres block names its URL with ?schema=ponder"
        schema = f"ponder_test_{uuid.uuid4().hex[:16]}"
        code = code.replace("?schema=ponder", f"?schema={schema}")
    if "embedded" not in snippet.modes:
        _scripted_default(monkeypatch)
    try:
        run_snippet(code, f"docs_snippet_{uuid.uuid4().hex[:8]}")
    finally:
        if schema is not None:
            drop_schemas([schema])
