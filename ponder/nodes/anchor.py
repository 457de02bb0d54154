"""The greedy answer as an anchor, and the program-aided evidence that may move it.

Self-consistency's default rule (``select="anchored"``) and the answer ranker
(`ponder.nodes.rank`) both start from the greedy answer; these are their common parts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from ponder.state import Candidate
from ponder.verify.extract import canonical_number

__all__ = ("anchor_of", "anchored", "programs_can_move")


def anchored(candidates: Sequence[Candidate], *, corroboration: int = 1) -> str | None:
    """Return the greedy answer, unless programs and samples agree on another one.

    The anchor is the first chain-of-thought candidate drawn at temperature 0 (else the
    first chain-of-thought candidate). Another answer replaces it when at least
    ``corroboration`` program-aided candidates (kind ``program``) print it and at least one
    chain-of-thought candidate also gives it: two independent kinds of reasoning agreeing
    against the greedy answer. The most printed such answer wins (ties: the first printed).
    Without programs, or with no agreement, the answer is the greedy one. Measured on
    held-in problems (``benchmarks/agreement.py``), it is never below greedy decoding.

    Example:
        >>> def c(kind, answer, temperature=0.7):
        ...     return {"kind": kind, "answer": answer, "temperature": temperature}
        >>> pool = [c("program", "9"), c("attempt", "8", 0.0), c("attempt", "9")]
        >>> anchored(pool), anchored(pool, corroboration=2), anchored(pool[:2])
        ('9', '8', '8')
    """
    thoughts = [c for c in candidates if c["kind"] != "program" and c["answer"] is not None]
    anchor = anchor_of(candidates)
    said = {c["answer"] for c in thoughts}
    printed = Counter(
        c["answer"] for c in candidates if c["kind"] == "program" and c["answer"] is not None
    )
    for answer, count in sorted(printed.items(), key=lambda item: -item[1]):
        if answer != anchor and count >= corroboration and answer in said:
            return answer
    return anchor


def anchor_of(candidates: Sequence[Candidate]) -> str | None:
    """Return the answer ``anchored`` keeps without evidence: the greedy one.

    That is the answer of the first chain-of-thought candidate drawn at temperature 0 that
    has one, else of the first that has one; ``None`` when none has an answer.
    """
    thoughts = [c for c in candidates if c["kind"] != "program" and c["answer"] is not None]
    greedy = next((c for c in thoughts if c["temperature"] == 0.0), None)
    chosen = greedy or (thoughts[0] if thoughts else None)
    return None if chosen is None else chosen["answer"]


def programs_can_move(candidates: Sequence[Candidate]) -> bool:
    """Whether program-aided answers could move ``anchored`` off the greedy answer.

    Only when the chain-of-thought candidates name more than one answer (a program moves
    the anchor only to an answer a sample gave) and the anchor is a number: a program
    computes numbers, and for other answers (yes or no, a letter) it is no independent
    evidence (on the held-in tune splits programs never helped there,
    ``benchmarks/allocation.py``).

    Example:
        >>> def c(answer, temperature=0.7):
        ...     return {"kind": "attempt", "answer": answer, "temperature": temperature}
        >>> programs_can_move([c("8", 0.0), c("9")]), programs_can_move([c("yes", 0.0), c("no")])
        (True, False)
    """
    thoughts = [c for c in candidates if c["kind"] != "program"]
    anchor = anchor_of(thoughts)
    named = {c["answer"] for c in thoughts if c["answer"] is not None}
    return anchor is not None and canonical_number(anchor) is not None and len(named) > 1
