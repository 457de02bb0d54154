"""`ponder bench` end to end on the real embedded model (two problems, one budget)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ponder.cli import main
from ponder.eval import load_bench
from ponder.models import EmbeddedChatModel


@pytest.mark.embedded
def test_bench_on_the_embedded_model(
    smollm2: EmbeddedChatModel, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = f"sqlite+aiosqlite:///{tmp_path / 'ponder.db'}"
    args = [
        "bench", "--dataset", "arithmetic", "--strategies", "self-consistency,best-of-n",
        "--budgets", "400", "--limit", "2", "--db", db, "--out", str(tmp_path / "out"),
    ]  # fmt: skip
    assert main(args) == 0
    captured = capsys.readouterr()
    assert "4/4 runs" in captured.err and "| self-consistency | 400 | none | 2 |" in captured.out
    data = json.loads((tmp_path / "out" / "report.json").read_text())
    bench = load_bench(data["bench_id"], db=db)
    assert len(bench.results) == 4 and bench.config["model_name"] == "smollm2"
    for result in bench.results:
        assert result.status == "done" and result.error is None
        assert 0 < result.tokens <= 400 and result.calls >= 1 and result.wall_seconds > 0
        assert result.answer is not None and result.correct is not None
    best = [r for r in bench.results if r.strategy == "best-of-n"]
    assert all(r.verifier == "oracle" and r.correct == r.pass_at_n for r in best)
    assert (tmp_path / "out" / "accuracy_tokens.png").read_bytes()[:4] == b"\x89PNG"
    # Run again: everything is stored, so nothing runs and the same report comes out.
    assert main(args) == 0
    assert "4/4 runs" in capsys.readouterr().err
    assert load_bench(data["bench_id"], db=db).results == bench.results
