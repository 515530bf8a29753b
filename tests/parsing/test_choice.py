"""Tests for scale.parsing.choice.parse_choice."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scale.parsing import parse_choice

FRAGMENTS = [
    "Outline", "outline", " ", "1", "2", "3", "4", "99", "0", "#", "**", ":", ",", ".", "\n",
    "I choose", "best", "Answer", "is", "because", "\\boxed{", "}", "<think>", "</think>",
    '"', "'", "{", "step1", "```", "%", "/", "-", "two", "٣", "İ",
]  # fmt: skip
_piece = st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=4))
adversarial = st.lists(_piece, max_size=40).map("".join)


CASES = [
    ("label", "Outline 3", 4, 2),
    ("bare_integer", "3", 4, 2),
    ("bare_integer_punct", " 2.\n", 4, 1),
    ("bold", "**Outline 2**", 4, 1),
    ("choose_hash", "I choose outline #2.", 4, 1),
    ("best_then_other_mention", "The best is Outline 4 because outline 1 is too vague.", 4, 3),
    ("answer_colon", "Answer: 3", 4, 2),
    ("answer_bold", "**Answer:** 1", 4, 0),
    ("final_answer_is", "My final answer is 2", 4, 1),
    ("best_outline_is", "The best outline is 3", 4, 2),
    ("outline_is_best", "Outline 1 is the best. Outline 2 is too long.", 4, 0),
    (
        "select_after_discussion",
        "Outline 1 is vague, outline 3 is wrong. I select Outline 2.",
        4,
        1,
    ),
    ("last_final_wins", "I would pick Outline 1, but on reflection I choose Outline 3.", 4, 2),
    ("last_mention", "Comparing outline 1 with outline 2, outline 2", 4, 1),
    ("boxed", "Reasoning... \\boxed{2}", 4, 1),
    ("boxed_label", "\\boxed{\\text{Outline 3}}", 4, 2),
    ("number_word", "I pick Outline two", 4, 1),
    ("think_stripped", "<think>Outline 1 looks best</think>Outline 2", 4, 1),
    ("unclosed_think", "<think>I choose Outline 3", 4, 2),
    ("out_of_range", "Outline 7", 4, None),
    ("zero_label", "Outline 0", 4, None),
    ("out_of_range_final", "I choose outline 5", 3, None),
    ("nothing", "I cannot decide.", 4, None),
    ("empty", "", 4, None),
    ("ambiguous_integers", "Both 1 and 2 are fine", 4, None),
    ("n_zero", "Outline 1", 0, None),
]


@pytest.mark.parametrize(
    ("text", "n", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_parse_choice_cases(text: str, n: int, expected: int | None) -> None:
    assert parse_choice(text, n) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("version3", 2), ("Version 2", 1), ("**version1**", 0), ("\\boxed{version 4}", 3), ("version9", None)])
def test_the_authors_version_labels(text: str, expected: int | None) -> None:
    assert parse_choice(text, 8) == expected


def test_non_string_input() -> None:
    assert parse_choice(None, 3) is None  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(st.text(), st.integers(min_value=-2, max_value=20))
def test_never_raises_on_text(text: str, n: int) -> None:
    result = parse_choice(text, n)
    assert result is None or 0 <= result < n


@settings(max_examples=300, deadline=None)
@given(adversarial, st.integers(min_value=1, max_value=8))
def test_never_raises_on_adversarial(text: str, n: int) -> None:
    result = parse_choice(text, n)
    assert result is None or 0 <= result < n


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=1, max_value=12), st.data())
def test_roundtrip_labels(n: int, data: st.DataObject) -> None:
    label = data.draw(st.integers(min_value=1, max_value=n))
    template = data.draw(
        st.sampled_from(["Outline {}", "{}", "I choose Outline {}.", "**Outline {}**"])
    )
    assert parse_choice(template.format(label), n) == label - 1
