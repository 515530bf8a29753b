"""Tests for scale.parsing.score.parse_score."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scale.parsing import ParsedScore, parse_score

HOWS = {"number", "clamped", "percent", "fraction", "word", "failed"}

FRAGMENTS = [
    "{", "}", '"', "'", "step1", ":", ",", "```", "0", "1", "7", "10", "0.5", ".", "-", "+",
    "e", "E5", "<think>", "</think>", "%", "/", "\n", " ", "\\boxed{", "\\frac{", "**",
    "score", "Difficulty", "rate it", "answer", "out of", "percent", "nan", "inf", "1e999",
    "easy", "hard", "medium", "٣", "½", "İ",
]  # fmt: skip
_piece = st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=4))
adversarial = st.lists(_piece, max_size=40).map("".join)


CASES = [
    ("bare", "0.7", 0.7, "number", "0.7"),
    ("whitespace", "  0.70\n", 0.7, "number", "0.70"),
    ("labelled", "Score: 0.8", 0.8, "number", "0.8"),
    ("in_sentence", "I'd rate it 0.3 because it needs one substitution.", 0.3, "number", "0.3"),
    ("bold", "**0.65**", 0.65, "number", "0.65"),
    ("boxed", "\\boxed{0.4}", 0.4, "number", "0.4"),
    ("percent", "70%", 0.7, "percent", "70%"),
    ("percent_word", "about 35 percent", 0.35, "percent", "35 percent"),
    ("fraction", "7/10", 0.7, "fraction", "7/10"),
    ("fraction_words", "3 out of 10", 0.3, "fraction", "3 out of 10"),
    ("latex_fraction_boxed", "\\boxed{\\frac{2}{5}}", 0.4, "fraction", "\\frac{2}{5}"),
    ("leading_dot", ".5", 0.5, "number", ".5"),
    ("one", "1", 1.0, "number", "1"),
    ("zero", "0", 0.0, "number", "0"),
    ("above_one", "1.5", 1.0, "clamped", "1.5"),
    ("negative", "-0.2", 0.0, "clamped", "-0.2"),
    ("ten_scale_not_guessed", "8", 1.0, "clamped", "8"),
    ("percent_over", "150%", 1.0, "clamped", "150%"),
    ("word_easy", "This step is easy.", 0.2, "word", "easy"),
    ("word_trivial", "Trivial", 0.2, "word", "Trivial"),
    ("word_hard", "Quite hard", 0.8, "word", "hard"),
    ("word_challenging", "challenging", 0.8, "word", "challenging"),
    ("word_medium", "medium", 0.5, "word", "medium"),
    ("word_moderate", "moderate difficulty", 0.5, "word", "moderate"),
    ("word_last_wins", "Not hard at all, it is easy", 0.2, "word", "easy"),
    ("number_beats_word", "hard: 0.9", 0.9, "number", "0.9"),
    ("think_stripped", "<think>maybe 0.9</think>0.2", 0.2, "number", "0.2"),
    ("unclosed_think", "<think>I would say 0.6", 0.6, "number", "0.6"),
    ("boxed_beats_keyword", "Score: 0.9. \\boxed{0.3}", 0.3, "number", "0.3"),
    ("keyword_beats_last", "Difficulty: 0.35. It involves 2 steps.", 0.35, "number", "0.35"),
    ("keyword_skips_step_label", "The difficulty of step 2 is 0.4", 0.4, "number", "0.4"),
    ("last_keyword", "score 0.2 ... final score: 0.5", 0.5, "number", "0.5"),
    ("last_in_range", "It has 3 parts; overall 0.45", 0.45, "number", "0.45"),
    ("last_number_clamped", "Needs 3 or 4 operations", 1.0, "clamped", "4"),
    ("range_dash", "0.3-0.4", 0.4, "number", "0.4"),
    ("dash_separator", "Difficulty - 0.4", 0.4, "number", "0.4"),
    ("step_label_glued", "step2: 0.25", 0.25, "number", "0.25"),
]


@pytest.mark.parametrize(
    ("text", "value", "how", "raw"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_parse_score_cases(text: str, value: float, how: str, raw: str) -> None:
    result = parse_score(text)
    assert result.how == how
    assert result.value == pytest.approx(value)
    assert result.raw == raw


FAILURES = [
    ("empty", ""),
    ("whitespace", " \n "),
    ("nan", "nan"),
    ("NaN_word", "NaN"),
    ("inf", "inf"),
    ("infinity", "-Infinity"),
    ("overflow", "1e999"),
    ("zero_denominator", "3/0"),
    ("no_rating", "The difficulty is unclear."),
    ("think_only_closed", "<think>0.5</think>"),
]


@pytest.mark.parametrize("text", [c[1] for c in FAILURES], ids=[c[0] for c in FAILURES])
def test_parse_score_failures(text: str) -> None:
    assert parse_score(text) == ParsedScore(None, "failed", "")


def test_non_string_input_fails() -> None:
    assert parse_score(None).how == "failed"  # type: ignore[arg-type]


def _check(result: ParsedScore) -> None:
    assert result.how in HOWS
    assert isinstance(result.raw, str)
    if result.value is None:
        assert result.how == "failed"
        assert result.raw == ""
    else:
        assert result.how != "failed"
        assert math.isfinite(result.value)
        assert 0.0 <= result.value <= 1.0
        assert result.raw


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_never_raises_on_text(text: str) -> None:
    _check(parse_score(text))


@settings(max_examples=300, deadline=None)
@given(adversarial)
def test_never_raises_on_adversarial(text: str) -> None:
    _check(parse_score(text))


@settings(max_examples=300, deadline=None)
@given(st.floats(min_value=0.0, max_value=1.0, allow_nan=False))
def test_roundtrip_in_range_numbers(value: float) -> None:
    result = parse_score(f"{value:.4f}")
    assert result.how == "number"
    assert result.value == pytest.approx(round(value, 4))


@settings(max_examples=300, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False).filter(lambda v: not 0 <= v <= 1))
def test_out_of_range_numbers_are_clamped(value: float) -> None:
    result = parse_score(repr(value))
    assert result.how == "clamped"
    assert result.value == (0.0 if value < 0 else 1.0)


# A bare number in [0, 1] is the only reply the authors accept (float(reply)); the rest is lenient.
BARE_CASES = [
    ("0.3", 0.3, True), (" 0.30\n", 0.3, True), (".5", 0.5, True), ("1", 1.0, True), ("1e-1", 0.1, True),
    ("<think>hmm</think>0.7", 0.7, True), ("-0", 0.0, True),
    ("Score: 0.3", 0.3, False), ("0.3.", 0.3, False), ("**0.3**", 0.3, False), ("7", 1.0, False),
    ("hard", 0.8, False), ("30%", 0.3, False), ("-0.2", 0.0, False),
]


@pytest.mark.parametrize(("text", "value", "bare"), BARE_CASES, ids=[c[0] for c in BARE_CASES])
def test_bare_numbers_are_told_apart_from_lenient_parses(text: str, value: float, bare: bool) -> None:
    result = parse_score(text)
    assert (result.value, result.bare, result.lenient) == (pytest.approx(value), bare, not bare)


def test_a_failed_parse_is_neither_bare_nor_lenient() -> None:
    result = parse_score("I cannot say")
    assert (result.value, result.bare, result.lenient) == (None, False, False)
