from __future__ import annotations

import pytest

from ponder.verify.extract import canonical_number, extract_number, extract_short_answer


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3 + 4 = 7. The answer is 7.", "7"),
        ("The answer is 1,234 apples, not 5.", "1234"),
        ("so #### 42", "42"),
        ("We get \\boxed{3/4} in the end, 9 is wrong", "3/4"),
        ("Answer: -12", "-12"),
        ("It costs $5.50 in all.", "5.5"),
        ("first 3, then 8", "8"),
        ("The answer is 7.0", "7"),
        ("Answer: 6/3", "2"),
        ("no digits here", None),
        ("", None),
        ("version v2 of x1", None),
    ],
)
def test_extract_number(text: str, expected: str | None) -> None:
    assert extract_number(text) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1,000", "1000"), ("1,00", None), ("0.50", "0.5"), ("4/0", None), ("$ 3", "3")],
)
def test_canonical_number(raw: str, expected: str | None) -> None:
    assert canonical_number(raw) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Let me think. Answer: Paris.", "Paris"),
        ("The answer is **yes**", "yes"),
        ("nyc", "nyc"),
        ("a long sentence that has far too many words to be a short answer at all", None),
        ("", None),
    ],
)
def test_extract_short_answer(text: str, expected: str | None) -> None:
    assert extract_short_answer(text) == expected
