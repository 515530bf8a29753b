"""Fast path: thousands groups vs lists, list splitting, canonical forms, Math-Verify forms."""

from __future__ import annotations

import pytest

from scale.grading.fastpath import (
    canonical,
    fast_equivalent,
    is_thousands,
    mv_form,
    split_top_level,
)


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("32,349", True),
        ("1,000,000", True),
        ("-1,234.5", True),
        ("5,\\!000", True),
        ("5{,}000", True),
        ("\\$1,250", True),
        ("32, 349", False),
        ("0,100", False),
        ("0, 100", False),
        ("12,34", False),
        ("1,2345", False),
        ("1,000, 000", False),
        ("32,\\ 349", False),
        ("1234", False),
    ],
)
def test_is_thousands(answer: str, expected: bool) -> None:
    assert is_thousands(answer) is expected


@pytest.mark.parametrize(
    ("answer", "items"),
    [
        ("1, -2", ["1", "-2"]),
        ("(1, 2)", ["(1, 2)"]),
        ("[1, 2), (3, 4]", ["[1, 2)", "(3, 4]"]),
        ("\\{1, 2\\}, 3", ["\\{1, 2\\}", "3"]),
        ("\\frac{1,2}{3}", ["\\frac{1,2}{3}"]),
        ("5", ["5"]),
    ],
)
def test_split_top_level(answer: str, items: list[str]) -> None:
    assert split_top_level(answer) == items


def test_canonical_keeps_lists_apart_from_numbers() -> None:
    assert canonical("32,349") == "32349"
    assert canonical("32, 349") == "32,349"
    assert canonical("0, 100") == "0,100"
    assert canonical("1,234\\text{ m}") == "1234"


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("32,349", "32349", (True, "equal")),
        ("32, 349", "32349", (False, "not_equal")),
        ("0, 100", "100", (False, "not_equal")),
        ("100", "0, 100", (False, "not_equal")),
        ("25", "025, 25", None),  # every item is 25: the grader checks each form
        ("4", "4, 2^2", None),
        ("1, -2", "-2, 1", (True, "equal")),
        ("1, 2", "1, 3", None),  # Math-Verify decides
        ("\\frac{1}{2}", "0.5", None),
    ],
)
def test_fast_equivalent(a: str, b: str, expected: tuple[bool, str] | None) -> None:
    assert fast_equivalent(a, b) == expected


def test_mv_form_spaces_list_items() -> None:
    assert mv_form("0,100") == "0, 100"  # Math-Verify would read a decimal comma: 0.1
    assert mv_form("32,349") == "32,349"
    assert mv_form("(1,2)") == "(1,2)"
