"""``ponder graph`` and ``ponder show`` from the command line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import ponder
from ponder.cli import main
from ponder.testing import ScriptedChatModel


def test_graph_command_text_and_png(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["graph", "refine", "--format", "ascii"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("refine\n") and "check ..> critique | pause | select" in out
    assert main(["graph", "adaptive"]) == 0
    assert "subgraph search" in capsys.readouterr().out  # mermaid by default
    target = tmp_path / "mcts.dot"
    assert main(["graph", "mcts", "-f", "dot", "-o", str(target)]) == 0
    assert target.read_text().startswith("digraph strategy {")
    if shutil.which("dot") is not None:
        png = tmp_path / "a.png"
        assert main(["graph", "adaptive", "-f", "png", "-o", str(png)]) == 0
        assert png.read_bytes().startswith(b"\x89PNG")
    assert main(["graph", "mcts", "-f", "ascii", "--option", "iterations=oops"]) == 2
    assert "iterations" in capsys.readouterr().err


def test_show_command_writes_one_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    db = f"sqlite+aiosqlite:///{tmp_path / 'runs.db'}"
    ponder.solve(
        "2 + 2?", model=ScriptedChatModel(replies=["The answer is 4."]), db=db, run_id="r1"
    )
    monkeypatch.chdir(tmp_path)
    assert main(["show", "r1", "--db", db]) == 0
    page = (tmp_path / "ponder-r1.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and '"run_id": "r1"' in page
    assert main(["show", "r1", "--db", db, "-o", "-"]) == 0
    assert capsys.readouterr().out == page
    assert main(["show", "nope", "--db", db]) == 2
    assert "no run 'nope'" in capsys.readouterr().err
    assert main(["show", "r1", "--db", db, "--serve", "--host", "0.0.0.0"]) == 2
    assert "loopback" in capsys.readouterr().err
