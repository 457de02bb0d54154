from __future__ import annotations

import gzip
import hashlib
import json
import re
from pathlib import Path

import pytest

from ponder.errors import ConfigurationError
from ponder.eval import DATASETS, load_dataset, load_jsonl, split_of
from ponder.eval.datasets import DATA_DIR

SIZES = {
    "gsm8k": 1319, "math500": 500, "addsub": 395, "singleeq": 508, "arithmetic": 2094,
    "coin-flip": 500, "last-letters": 500, "strategyqa": 2290, "arc-challenge": 1172,
    "arc-easy": 2376, "commonsenseqa": 1221, "humaneval": 164, "mbpp": 500,
}  # fmt: skip


def test_every_shipped_dataset_is_known() -> None:
    assert set(DATASETS) == set(SIZES)


@pytest.mark.parametrize("name", sorted(SIZES))
def test_dataset_loads_whole_with_its_fields(name: str) -> None:
    dataset = load_dataset(name)
    assert len(dataset.problems) == SIZES[name]
    assert dataset.scorer == DATASETS[name].scorer
    assert len({p.id for p in dataset.problems}) == len(dataset.problems)
    for problem in dataset.problems:
        assert problem.question.strip() and problem.answer.strip()
        assert problem.scorer == dataset.scorer
        if dataset.scorer == "code":
            assert problem.tests and "assert" in problem.tests or "check(" in (problem.tests or "")
        else:
            assert problem.tests is None
        if dataset.scorer == "choice":
            assert re.fullmatch("[A-E]", problem.answer)
            assert f"\n{problem.answer}) " in problem.question
        if dataset.scorer == "yes_no":
            assert problem.answer in ("yes", "no")
            assert problem.question.endswith("Answer yes or no.")
        if dataset.scorer == "number":
            float(problem.answer.replace("/", "e0/").split("/")[0])
    assert dataset.labelled_verifier is (dataset.scorer != "code")


def test_first_problems_read_right() -> None:
    gsm8k = load_dataset("gsm8k", limit=1).problems[0]
    assert gsm8k.answer == "18" and gsm8k.question.startswith("Janet")
    math = load_dataset("math500", limit=1).problems[0]
    assert math.answer == r"\left( 3, \frac{\pi}{2} \right)" and math.level == "Level 2"
    assert {p.level for p in load_dataset("math500").problems} == {
        f"Level {n}" for n in range(1, 6)
    }
    assert load_dataset("singleeq", limit=1).problems[0].answer == "43"  # 43.0 in the file
    human = load_dataset("humaneval", limit=1).problems[0]
    assert human.id == "HumanEval/0" and human.tests is not None
    assert human.tests.endswith("check(has_close_elements)") and human.prelude == human.question
    mbpp = load_dataset("mbpp", limit=1).problems[0]
    assert "remove_Occ" in mbpp.question and mbpp.tests is not None
    assert mbpp.tests.count("assert") == 3
    arc = load_dataset("arc-challenge", limit=1).problems[0]
    assert arc.answer == "C" and "C) Planetary days will become shorter." in arc.question
    csqa = load_dataset("commonsenseqa", limit=1).problems[0]
    assert csqa.answer == "A" and "A) bank" in csqa.question
    assert load_dataset("strategyqa", limit=1).problems[0].answer == "yes"
    assert load_dataset("last-letters", limit=1).problems[0].answer == "yajo"


def test_names_are_forgiving_and_limit_applies() -> None:
    assert load_dataset("ARC", limit=2).name == "arc-challenge"
    assert load_dataset("coin_flip", limit=3).name == "coin-flip"
    assert len(load_dataset("math-500", limit=7).problems) == 7


def test_unknown_dataset_lists_the_known_ones() -> None:
    with pytest.raises(ConfigurationError, match="unknown dataset 'gsm9k'") as info:
        load_dataset("gsm9k")
    for name in SIZES:
        assert name in str(info.value)


@pytest.mark.parametrize("limit", [0, -1, True, 2.5])
def test_bad_limit(limit: object) -> None:
    with pytest.raises(ConfigurationError, match="limit"):
        load_dataset("arithmetic", limit=limit)  # type: ignore[arg-type]


def test_shipped_files_match_their_recorded_sources() -> None:
    readme = (DATA_DIR / "README.md").read_text()
    rows = re.findall(r"^\| (\S+) \| (.+?) \| .+ \| (\d+) \| ([0-9a-f]{64}) \|$", readme, re.M)
    assert {row[0] for row in rows} == {p.name for p in DATA_DIR.glob("*.gz")}
    for file, _source, size, sha in rows:
        raw = (DATA_DIR / file).read_bytes()
        original = raw if file == "HumanEval.jsonl.gz" else gzip.decompress(raw)
        assert len(original) == int(size)
        assert hashlib.sha256(original).hexdigest() == sha


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def test_user_jsonl(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "mine.jsonl",
        [
            json.dumps({"q": "2 + 2 =", "a": 4, "level": 1}),
            "",
            json.dumps({"q": "3 + 3 =", "a": "6"}),
        ],
    )
    dataset = load_jsonl(path, question_field="q", answer_field="a")
    assert dataset.scorer == "number" and dataset.labelled_verifier
    assert [(p.id, p.question, p.answer, p.level) for p in dataset.problems] == [
        ("line 1", "2 + 2 =", "4", "1"),
        ("line 3", "3 + 3 =", "6", None),
    ]
    words = _write(
        tmp_path / "words.jsonl",
        [json.dumps({"question": "Capital of France?", "answer": "Paris"})],
    )
    assert load_jsonl(words).scorer == "string"
    assert load_jsonl(words, scorer="yes_no").problems[0].scorer == "yes_no"
    assert len(load_jsonl(path, question_field="q", answer_field="a", limit=1).problems) == 1


def test_malformed_line_is_named(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "bad.jsonl", [json.dumps({"question": "a", "answer": "1"}), "", "{oops"]
    )
    with pytest.raises(ConfigurationError, match=r"bad\.jsonl, line 3: not valid JSON"):
        load_jsonl(path)


def test_missing_field_is_named(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "f.jsonl", [json.dumps({"question": "a", "answer": "1"}), json.dumps({"q": "b"})]
    )
    with pytest.raises(ConfigurationError, match=r"line 2: no field 'question' \(its fields: q\)"):
        load_jsonl(path)
    not_object = _write(tmp_path / "g.jsonl", ["[1, 2]"])
    with pytest.raises(ConfigurationError, match="line 1: expected a JSON object"):
        load_jsonl(not_object)


def test_jsonl_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="no such dataset file"):
        load_jsonl(tmp_path / "missing.jsonl")
    empty = _write(tmp_path / "empty.jsonl", [""])
    with pytest.raises(ConfigurationError, match="holds no problem"):
        load_jsonl(empty)
    with pytest.raises(ConfigurationError, match="unknown scorer"):
        load_jsonl(empty, scorer="fuzzy")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="cannot be scored as code"):
        load_jsonl(empty, scorer="code")


# -- held-in splits -----------------------------------------------------------------------------


def test_split_of_is_the_first_byte_of_the_questions_sha256() -> None:
    for question in ("4 * 8 =", "9 + 5 =", "Is a coin still heads up?", "é"):
        first = hashlib.sha256(question.encode("utf-8")).digest()[0]
        assert split_of(question) == ("tune" if first % 2 == 0 else "report")
    # stable: the split of a problem is a fact about its text, fixed once and for all
    assert (split_of("4 * 8 ="), split_of("9 + 5 =")) == ("report", "tune")


@pytest.mark.parametrize("name", ["arithmetic", "addsub", "singleeq", "coin-flip", "arc-easy"])
def test_splits_are_disjoint_halves_that_make_the_whole(name: str) -> None:
    whole = load_dataset(name).problems
    tune = load_dataset(name, split="tune").problems
    report = load_dataset(name, split="report").problems
    assert {p.id for p in tune}.isdisjoint({p.id for p in report})
    assert sorted([*tune, *report], key=lambda p: whole.index(p)) == list(whole)
    assert all(split_of(p.question) == "tune" for p in tune)
    assert 0.4 < len(tune) / len(whole) < 0.6
    # limit counts the split's problems, which keep their ids in the whole dataset
    assert load_dataset(name, split="report", limit=5).problems == report[:5]


def test_jsonl_splits_and_bad_split(tmp_path: Path) -> None:
    questions = [f"{i} + {i} =" for i in range(40)]
    path = _write(
        tmp_path / "sums.jsonl", [json.dumps({"question": q, "answer": 2 * i})
                                  for i, q in enumerate(questions)],
    )  # fmt: skip
    parts = {s: load_jsonl(path, split=s).problems for s in ("tune", "report")}
    assert sorted(p.question for part in parts.values() for p in part) == sorted(questions)
    assert {p.id for p in parts["tune"]}.isdisjoint({p.id for p in parts["report"]})
    assert [p.id for p in load_jsonl(path, split="tune", limit=2).problems] == [
        p.id for p in parts["tune"][:2]
    ]
    with pytest.raises(ConfigurationError, match="unknown split 'test'"):
        load_dataset("arithmetic", split="test")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="unknown split"):
        load_jsonl(path, split="train")  # type: ignore[arg-type]
    one = _write(tmp_path / "one.jsonl", [json.dumps({"question": "9 + 5 =", "answer": 14})])
    with pytest.raises(ConfigurationError, match="holds no problem of the report split"):
        load_jsonl(one, split="report")
