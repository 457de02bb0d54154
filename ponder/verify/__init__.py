"""Answer extraction and verifiers."""

from ponder.verify.extract import (
    Extractor,
    canonical_number,
    extract_number,
    extract_short_answer,
    normalize_text,
)
from ponder.verify.verifier import (
    AnswerKind,
    ExpectedAnswer,
    Verdict,
    VerdictLike,
    Verifier,
    answers_match,
    run_verifier,
)

__all__ = (
    "AnswerKind",
    "ExpectedAnswer",
    "Extractor",
    "Verdict",
    "VerdictLike",
    "Verifier",
    "answers_match",
    "canonical_number",
    "extract_number",
    "extract_short_answer",
    "normalize_text",
    "run_verifier",
)
