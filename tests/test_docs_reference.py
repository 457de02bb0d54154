"""The API reference pages of the docs site cover every public module and name."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "docs_reference", ROOT / "scripts" / "docs_reference.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module


def test_reference_pages_are_current(capsys) -> None:
    # A public module or name added without regenerating the pages fails here.
    assert _script().main(["--check"]) == 0, capsys.readouterr().out


def test_every_reference_page_is_in_the_nav() -> None:
    nav = (ROOT / "mkdocs.yml").read_text()
    pages = sorted(p.name for p in (ROOT / "docs" / "reference").glob("*.md"))
    assert pages and all(f"reference/{page}" in nav for page in pages)
    guides = sorted(p.name for p in (ROOT / "docs" / "guides").glob("*.md"))
    assert all(f"guides/{guide}" in nav for guide in guides)
    assert re.search(r"^strict: true$", nav, re.MULTILINE)
