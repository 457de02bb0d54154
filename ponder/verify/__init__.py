"""Answer extraction and verifiers."""

from ponder.verify.arithmetic import (
    ArithmeticConsistency,
    Repair,
    extract_repaired_number,
    find_equations,
    repair_arithmetic,
)
from ponder.verify.code import CodeTests, extract_code
from ponder.verify.extract import (
    Extractor,
    canonical_number,
    extract_number,
    extract_short_answer,
    normalize_text,
    run_extractor,
)
from ponder.verify.math import MathAnswer, math_equal
from ponder.verify.reward import OutcomeReward, ProcessReward, outcome_verifier
from ponder.verify.sandbox import (
    Isolation,
    SandboxLimits,
    SandboxResult,
    run_python,
    sandbox_isolation,
)
from ponder.verify.score import parse_score
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
    "ArithmeticConsistency",
    "Isolation",
    "CodeTests",
    "MathAnswer",
    "OutcomeReward",
    "ProcessReward",
    "Repair",
    "SandboxLimits",
    "SandboxResult",
    "extract_code",
    "find_equations",
    "math_equal",
    "outcome_verifier",
    "parse_score",
    "run_extractor",
    "repair_arithmetic",
    "run_python",
    "sandbox_isolation",
    "ExpectedAnswer",
    "Extractor",
    "Verdict",
    "VerdictLike",
    "Verifier",
    "answers_match",
    "canonical_number",
    "extract_number",
    "extract_repaired_number",
    "extract_short_answer",
    "normalize_text",
    "run_verifier",
)
