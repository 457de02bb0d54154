from __future__ import annotations

from pathlib import Path

import pytest

from ponder.cli import main


def test_strategies_lists_every_strategy(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["strategies"]) == 0
    out = capsys.readouterr().out
    assert "self-consistency" in out and "best-of-n" in out


def test_models_lists_the_embedded_models(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models"]) == 0
    assert "smollm2" in capsys.readouterr().out


def test_best_of_n_without_expected_is_a_clear_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The check comes first: no run is started, no model is loaded, no store is opened.
    def must_not_run(*args: object, **kwargs: object) -> None:
        pytest.fail("best-of-n without --expected went on to solve the problem")

    monkeypatch.setattr("ponder.cli.solve", must_not_run)
    monkeypatch.setattr("ponder.models.embedded._load_engine", must_not_run)
    monkeypatch.chdir(tmp_path)  # the default store, ponder.db, would land here
    assert main(["solve", "q", "--strategy", "best-of-n"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        "ponder: error: best-of-n needs a verifier: pass --expected ANSWER (the known answer)\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_bad_option_syntax_exits_with_usage() -> None:
    with pytest.raises(SystemExit):
        main(["solve", "q", "-o", "novalue"])
