from __future__ import annotations

import pytest

from ponder.cli import main


def test_strategies_lists_every_strategy(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["strategies"]) == 0
    out = capsys.readouterr().out
    assert "self-consistency" in out and "best-of-n" in out


def test_models_lists_the_embedded_models(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models"]) == 0
    assert "smollm2" in capsys.readouterr().out


def test_best_of_n_without_expected_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["solve", "q", "--strategy", "best-of-n", "--model", "nope"]) == 2
    assert "error:" in capsys.readouterr().err


def test_bad_option_syntax_exits_with_usage() -> None:
    with pytest.raises(SystemExit):
        main(["solve", "q", "-o", "novalue"])
