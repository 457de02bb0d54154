"""``ponder graph`` and ``ponder show`` from the command line."""

from __future__ import annotations

import json
import shutil
import socket
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


def test_show_a_run_whose_id_has_a_slash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    db = f"sqlite+aiosqlite:///{tmp_path / 'runs.db'}"
    model = ScriptedChatModel(replies=["The answer is 4."])
    ponder.solve("2 + 2?", model=model, db=db, run_id="team/a")
    monkeypatch.chdir(tmp_path)
    assert main(["show", "team/a", "--db", db]) == 0
    assert "wrote ponder-team_a.html" in capsys.readouterr().err
    assert '"run_id": "team/a"' in (tmp_path / "ponder-team_a.html").read_text()
    assert main(["show", "team/a", "--db", db, "-o", str(tmp_path / "no" / "such.html")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ponder: error: cannot write ") and "Traceback" not in err


def test_show_and_graph_print_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = f"sqlite+aiosqlite:///{tmp_path / 'runs.db'}"
    ponder.solve("2 + 2?", model=ScriptedChatModel(replies=["The answer is 4."]), db=db,
                 run_id="r1")  # fmt: skip
    assert main(["show", "r1", "--db", db, "--json"]) == 0
    view = json.loads(capsys.readouterr().out)
    assert view["run"]["run_id"] == "r1" and view["answer"] == "4" and view["frames"]
    assert main(["show", "r1", "--db", db, "--json", "--serve"]) == 2
    assert "does not go with --serve" in capsys.readouterr().err
    assert main(["graph", "refine", "--format", "ascii", "--json"]) == 0
    drawn = json.loads(capsys.readouterr().out)
    assert drawn["strategy"] == "refine" and drawn["format"] == "ascii"
    assert drawn["diagram"].startswith("refine\n")
    assert main(["graph", "mcts", "-O", "iterations=oops", "--json"]) == 2
    error = json.loads(capsys.readouterr().err)["error"]
    assert error["kind"] == "ConfigurationError" and "iterations" in error["message"]


def test_serving_on_a_taken_port_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = f"sqlite+aiosqlite:///{tmp_path / 'runs.db'}"
    ponder.solve("2 + 2?", model=ScriptedChatModel(replies=["The answer is 4."]), db=db,
                 run_id="r1")  # fmt: skip
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["show", "r1", "--db", db, "--serve", "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"ponder: error: cannot serve on 127.0.0.1 port {port}: ")
    assert "--port 0" in err and "Traceback" not in err
