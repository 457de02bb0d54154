"""Benchmark datasets: the public sets shipped with ponder, and a user's own JSONL file.

Every loader returns a `Dataset`: problems with the question as the model sees it (choices
listed and the answer format asked for), the reference answer, how it is scored, and the
dataset's own difficulty level where it has one (MATH-500). The files under
``ponder/eval/data/`` are copied unchanged from their sources (see the README there) and
gzip-compressed.

Held-in splits: `split_of` puts every problem in ``tune`` or ``report`` by a hash of its
question, so that a setting fitted on one split is reported on the other, and every loader
takes ``split=`` (``limit`` then counts the split's problems).

Example:
    >>> dataset = load_dataset("arithmetic", limit=2)
    >>> [(p.question, p.answer) for p in dataset.problems]
    [('4 * 8 =', '32'), ('9 + 5 =', '14')]
    >>> [p.question for p in load_dataset("arithmetic", split="report", limit=2).problems]
    ['4 * 8 =', '6 + 7 =']
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from ponder.errors import ConfigurationError
from ponder.verify.extract import canonical_number

__all__ = (
    "DATASETS",
    "DATA_DIR",
    "Dataset",
    "DatasetInfo",
    "Problem",
    "ScorerName",
    "Split",
    "load_dataset",
    "load_jsonl",
    "split_of",
)

DATA_DIR = Path(__file__).parent / "data"
"""Where the shipped dataset files live."""

ScorerName = Literal["number", "math", "choice", "yes_no", "string", "code"]
"""How a problem's answer is checked (see `ponder.eval.scorers`).

- ``number``: the same numeric value (``"1,000"`` equals ``"1000.0"``).
- ``math``: mathematically equivalent (LaTeX or plain; ``math-verify``).
- ``choice``: the same choice letter (``A`` to ``E``).
- ``yes_no``: the same yes or no.
- ``string``: the same string, ignoring case, spaces and end punctuation.
- ``code``: the code passes the problem's tests in the sandbox.
"""

Split = Literal["tune", "report"]
"""A held-in split of a dataset (see `split_of`).

- ``tune``: the problems settings are fitted on (thresholds, prompts, selection rules).
- ``report``: the problems results are reported on, never fitted on.
"""

_CHOICE_LETTERS = "ABCDEFGH"


def split_of(question: str) -> Split:
    """Return the held-in split of the problem whose text is ``question``.

    The first byte of the question's SHA-256 (UTF-8) decides: even is ``tune``, odd is
    ``report``. It depends on nothing but the text, so a problem keeps its split whatever
    file, order or subset it is loaded from, and the splits of every dataset are about
    halves. (The benchmarks in ``benchmarks/`` split by it since their first numbers.)

    Example:
        >>> split_of("4 * 8 ="), split_of("9 + 5 =")
        ('report', 'tune')
    """
    digest = hashlib.sha256(question.encode("utf-8")).digest()
    return "tune" if digest[0] % 2 == 0 else "report"


def _check_split(split: object) -> None:
    if split is not None and split not in get_args(Split):
        raise ConfigurationError(
            f"unknown split {split!r}; choose one of: {', '.join(get_args(Split))} "
            "(or none, for every problem)"
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class Problem:
    """One benchmark problem."""

    id: str
    """Its id within the dataset (the source's id, else its line number)."""
    question: str
    """The text the model is given."""
    answer: str
    """The reference answer (for code problems, a reference solution; the tests decide)."""
    scorer: ScorerName
    """How an answer is checked."""
    level: str | None = None
    """The dataset's own difficulty level (MATH-500's ``Level 1`` to ``Level 5``), if any."""
    tests: str | None = None
    """Code problems: test code that raises when the candidate is wrong."""
    prelude: str = ""
    """Code problems: code placed before the candidate's (the signature, imports)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Dataset:
    """A loaded dataset."""

    name: str
    """Its name (``gsm8k``) or, for a user's file, its path."""
    scorer: ScorerName
    """How its answers are checked."""
    problems: tuple[Problem, ...]
    """The problems, in the source's order."""
    labelled_verifier: bool
    """Whether the only verifier it has is the reference answer itself (an oracle); False
    for code problems, whose tests come with the problem."""


@dataclass(frozen=True, kw_only=True, slots=True)
class DatasetInfo:
    """A shipped dataset: its file, scorer and how to read its rows."""

    file: str
    """The file under `DATA_DIR`."""
    scorer: ScorerName
    """How its answers are checked."""
    summary: str
    """One line on what it is."""
    read: Callable[[Any, int], Problem]
    """Builds a problem from one row (a JSON object) and its 0-based index."""
    rows: Callable[[Any], list[Any]] = lambda data: list(data)
    """Picks the rows out of a whole-file JSON document (JSONL files are read line by line)."""


def _choices_text(question: str, labels: list[str], texts: list[str]) -> str:
    listed = "\n".join(f"{label}) {text}" for label, text in zip(labels, texts, strict=True))
    return f"{question}\n{listed}\nAnswer with the letter of the correct choice."


def _letters(labels: list[str]) -> dict[str, str]:
    """Map a row's choice labels (``A``.., or ``1``..) to letters A, B, C..."""
    return {label: _CHOICE_LETTERS[i] for i, label in enumerate(labels)}


def _number(value: object) -> str:
    text = str(value).strip()
    return canonical_number(text) or text


def _gsm8k(row: Any, index: int) -> Problem:
    answer = str(row["answer"]).rpartition("####")[2]
    return Problem(id=str(index), question=row["question"], answer=_number(answer), scorer="number")


def _math500(row: Any, index: int) -> Problem:
    level = row.get("level")
    return Problem(
        id=str(row.get("unique_id", index)),
        question=row["problem"],
        answer=str(row["answer"]),
        scorer="math",
        level=None if level is None else f"Level {level}",
    )


def _mawps(row: Any, index: int) -> Problem:
    return Problem(
        id=str(row.get("iIndex", index)),
        question=str(row["sQuestion"]).strip(),
        answer=_number(row["lSolutions"][0]),
        scorer="number",
    )


def _arithmetic(row: Any, index: int) -> Problem:
    return Problem(
        id=str(index), question=row["question"], answer=_number(row["answer"]),
        scorer="number",
    )  # fmt: skip


def _yes_no_question(question: str) -> str:
    return f"{question.strip()}\nAnswer yes or no."


def _coin_flip(row: Any, index: int) -> Problem:
    return Problem(
        id=str(index), question=_yes_no_question(row["question"]),
        answer=str(row["answer"]).strip().lower(), scorer="yes_no",
    )  # fmt: skip


def _last_letters(row: Any, index: int) -> Problem:
    return Problem(id=str(index), question=row["question"], answer=row["answer"], scorer="string")


def _strategyqa(row: Any, index: int) -> Problem:
    scores: dict[str, int] = row["target_scores"]
    answer = max(scores, key=lambda key: scores[key]).strip().lower()
    return Problem(
        id=str(index), question=_yes_no_question(row["input"]), answer=answer, scorer="yes_no"
    )


def _arc(row: Any, index: int) -> Problem:
    labels = [str(label) for label in row["labels"]]
    letters = _letters(labels)
    return Problem(
        id=str(row.get("id", index)),
        question=_choices_text(row["question"], [letters[x] for x in labels], row["choices"]),
        answer=letters[str(row["answer"])],
        scorer="choice",
    )


def _commonsenseqa(row: Any, index: int) -> Problem:
    choices = row["question"]["choices"]
    labels = [str(choice["label"]) for choice in choices]
    letters = _letters(labels)
    return Problem(
        id=str(row.get("id", index)),
        question=_choices_text(
            row["question"]["stem"], [letters[x] for x in labels], [c["text"] for c in choices]
        ),
        answer=letters[str(row["answerKey"])],
        scorer="choice",
    )


def _humaneval(row: Any, index: int) -> Problem:
    return Problem(
        id=str(row["task_id"]),
        question=row["prompt"],
        answer=row["prompt"] + row["canonical_solution"],
        scorer="code",
        tests=f"{row['test']}\ncheck({row['entry_point']})",
        prelude=row["prompt"],
    )


def _mbpp(row: Any, index: int) -> Problem:
    tests = "\n".join(row["test_list"])
    setup = str(row.get("test_setup_code") or "")
    return Problem(
        id=str(row["task_id"]),
        question=f"{row['text']}\nYour code should pass these tests:\n{tests}",
        answer=str(row["code"]),
        scorer="code",
        tests=f"{setup}\n{tests}" if setup else tests,
    )


DATASETS: dict[str, DatasetInfo] = {
    "gsm8k": DatasetInfo(
        file="gsm8k_test.jsonl.gz", scorer="number", read=_gsm8k,
        summary="GSM8K test: grade-school math word problems (1,319)",
    ),
    "math500": DatasetInfo(
        file="math500_test.jsonl.gz", scorer="math", read=_math500,
        summary="MATH-500: competition math, LaTeX answers, levels 1-5 (500)",
    ),
    "addsub": DatasetInfo(
        file="addsub.json.gz", scorer="number", read=_mawps,
        summary="AddSub: addition and subtraction word problems (395)",
    ),
    "singleeq": DatasetInfo(
        file="singleeq.json.gz", scorer="number", read=_mawps,
        summary="SingleEq: one-equation word problems (508)",
    ),
    "arithmetic": DatasetInfo(
        file="basic_skills_arithmetic.jsonl.gz", scorer="number", read=_arithmetic,
        summary="basic arithmetic: '4 * 8 =' (2,094)",
    ),
    "coin-flip": DatasetInfo(
        file="coin_flip.json.gz", scorer="yes_no", read=_coin_flip,
        rows=lambda data: data["examples"],
        summary="coin flip: is the coin still heads up after these flips? (500)",
    ),
    "last-letters": DatasetInfo(
        file="last_letters.json.gz", scorer="string", read=_last_letters,
        rows=lambda data: data["examples"],
        summary="last letters: concatenate the last letters of four words (500)",
    ),
    "strategyqa": DatasetInfo(
        file="strategyqa_bigbench_task.json.gz", scorer="yes_no", read=_strategyqa,
        rows=lambda data: data["examples"],
        summary="StrategyQA (BIG-bench): yes/no questions with implicit reasoning (2,290)",
    ),
    "arc-challenge": DatasetInfo(
        file="arc_challenge_test.jsonl.gz", scorer="choice", read=_arc,
        summary="ARC-Challenge test: grade-school science, multiple choice (1,172)",
    ),
    "arc-easy": DatasetInfo(
        file="arc_easy_test.jsonl.gz", scorer="choice", read=_arc,
        summary="ARC-Easy test: grade-school science, multiple choice (2,376)",
    ),
    "commonsenseqa": DatasetInfo(
        file="commonsenseqa_dev.jsonl.gz", scorer="choice", read=_commonsenseqa,
        summary="CommonsenseQA dev: commonsense multiple choice, A-E (1,221)",
    ),
    "humaneval": DatasetInfo(
        file="HumanEval.jsonl.gz", scorer="code", read=_humaneval,
        summary="HumanEval: complete a Python function; its unit tests decide (164)",
    ),
    "mbpp": DatasetInfo(
        file="mbpp_test.jsonl.gz", scorer="code", read=_mbpp,
        summary="MBPP test: write a Python function that passes three asserts (500)",
    ),
}  # fmt: skip
"""The shipped datasets, by name."""

_ALIASES = {"arc": "arc-challenge", "math-500": "math500", "coinflip": "coin-flip"}


def _json_lines(path: Path, opener: Callable[[Path], Any]) -> Iterator[tuple[int, Any]]:
    """Yield (line number, parsed JSON) for each non-blank line; a bad line names itself."""
    with opener(path) as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                yield number, json.loads(line)
            except json.JSONDecodeError as exc:
                raise ConfigurationError(
                    f"{path}, line {number}: not valid JSON ({exc.msg}); fix or remove that line"
                ) from exc


def _open_text(path: Path) -> Any:
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")
    return path.open(encoding="utf-8")


def _shipped(name: str, info: DatasetInfo, limit: int | None, split: Split | None) -> Dataset:
    path = DATA_DIR / info.file
    stem = path.name.removesuffix(".gz")
    rows: Iterable[Any]
    if stem.endswith(".jsonl"):
        rows = (row for _, row in _json_lines(path, _open_text))
    else:
        with _open_text(path) as handle:
            rows = info.rows(json.load(handle))
    problems: list[Problem] = []
    for index, row in enumerate(rows):  # ids count every problem, in the split or not
        if limit is not None and len(problems) >= limit:
            break
        problem = info.read(row, index)
        if split is None or split_of(problem.question) == split:
            problems.append(problem)
    return Dataset(
        name=name, scorer=info.scorer, problems=tuple(problems),
        labelled_verifier=info.scorer != "code",
    )  # fmt: skip


def _field(row: Any, field: str, path: Path, number: int) -> str:
    if not isinstance(row, dict):
        raise ConfigurationError(f"{path}, line {number}: expected a JSON object, got {row!r:.60}")
    if field not in row or row[field] is None:
        shown = ", ".join(sorted(row)) or "none"
        raise ConfigurationError(
            f"{path}, line {number}: no field {field!r} (its fields: {shown}); "
            "name the right one with --question-field / --answer-field"
        )
    return str(row[field])


def load_jsonl(
    path: str | Path,
    *,
    question_field: str = "question",
    answer_field: str = "answer",
    level_field: str | None = "level",
    scorer: ScorerName | None = None,
    limit: int | None = None,
    split: Split | None = None,
) -> Dataset:
    """Load a user's JSONL file: one JSON object per line, with a question and an answer.

    Args:
        path: The file (``.jsonl``, or ``.jsonl.gz``).
        question_field: The field holding the question.
        answer_field: The field holding the reference answer.
        level_field: A field holding a difficulty level, used for the per-level report when
            present.
        scorer: How answers are checked; by default ``number`` when every answer is a number,
            else ``string``.
        limit: Read at most this many problems (of the split, with ``split``).
        split: Only the problems of this held-in split (`split_of`); every one when ``None``.

    Raises:
        ConfigurationError: The file is missing, a line is not JSON or lacks a field (the
            message names the line), the file holds no problem (of the split), or an
            unknown split.
    """
    _check_split(split)
    path = Path(path)
    if not path.is_file():
        raise ConfigurationError(f"no such dataset file: {path}")
    if scorer is not None and scorer not in get_args(ScorerName):
        raise ConfigurationError(
            f"unknown scorer {scorer!r}; choose one of: {', '.join(get_args(ScorerName))}"
        )
    if scorer == "code":
        raise ConfigurationError("a JSONL file's answers cannot be scored as code (no tests)")
    rows: list[tuple[int, str, str, str | None]] = []
    for number, row in _json_lines(path, _open_text):
        if limit is not None and len(rows) >= limit:
            break
        question = _field(row, question_field, path, number)
        answer = _field(row, answer_field, path, number)
        level = row.get(level_field) if level_field else None
        if split is not None and split_of(question) != split:
            continue
        rows.append((number, question, answer, None if level is None else str(level)))
    if not rows:
        where = f"of the {split} split" if split is not None else "(it is empty)"
        raise ConfigurationError(f"{path} holds no problem {where}")
    if scorer is None:
        numeric = all(canonical_number(answer) is not None for _, _, answer, _ in rows)
        scorer = "number" if numeric else "string"
    problems = tuple(
        Problem(id=f"line {number}", question=question, answer=answer, scorer=scorer, level=level)
        for number, question, answer, level in rows
    )
    return Dataset(name=str(path), scorer=scorer, problems=problems, labelled_verifier=True)


def load_dataset(name: str, *, limit: int | None = None, split: Split | None = None) -> Dataset:
    """Load the shipped dataset ``name`` (see `DATASETS`), its first ``limit`` problems.

    With ``split``, only the problems of that held-in split (`split_of`), and ``limit``
    counts those; a problem's id is its place in the whole dataset either way.

    Raises:
        ConfigurationError: No dataset has that name (the message lists them), ``limit``
            is not positive, or an unknown split.
    """
    _check_split(split)
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ConfigurationError(f"limit must be a positive whole number, got {limit!r}")
    key = name.strip().lower().replace("_", "-")
    key = _ALIASES.get(key, key)
    info = DATASETS.get(key)
    if info is None:
        raise ConfigurationError(
            f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}, "
            "or give a .jsonl file with --question-field and --answer-field"
        )
    return _shipped(key, info, limit, split)
