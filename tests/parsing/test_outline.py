"""Tests for scale.parsing.outline: parse_outline and strip_think."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scale.parsing import ParsedOutline, parse_outline, strip_think
from scale.parsing.outline import has_word

HOWS = {"json", "json_repaired", "numbered_list", "failed"}

# Fragments LLM replies (and broken ones) are made of; joined at random by hypothesis.
FRAGMENTS = [
    "{", "}", "[", "]", '"', "'", "step1", "Step 2", '"step3"', "step_4", "10", ":", ",",
    "```", "```json", "0", "1", "0.5", ".", "-", "*", "**", "<think>", "</think>", "%", "/",
    "\n", "\n\n", " ", "\\", "\\n", "\\frac{1}{2}", "\\theta", "$", "1. ", "2) ", "- ",
    "Step 1:", "null", "true", "İ", "٣", "\x0c", "\u2028", "\t", "#",
]  # fmt: skip
_piece = st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=4))
adversarial = st.lists(_piece, max_size=40).map("".join)


CASES = [
    ("plain_json", '{"step1": "Find x", "step2": "Find y"}', ("Find x", "Find y"), "json"),
    (
        "fenced_json",
        'Here is the outline:\n```json\n{"step1": "a", "step2": "b"}\n```\nGood luck!',
        ("a", "b"),
        "json",
    ),
    ("prose_around", 'Sure. {"step1": "a", "step2": "b"} Done.', ("a", "b"), "json"),
    (
        "braces_in_prose_before",
        'We need $\\frac{1}{2}$ of {x}. {"step1": "a", "step2": "b"}',
        ("a", "b"),
        "json",
    ),
    ("trailing_comma", '{"step1": "a", "step2": "b",}', ("a", "b"), "json_repaired"),
    ("single_quotes", "{'step1': 'a', 'step2': 'b'}", ("a", "b"), "json_repaired"),
    (
        "single_quotes_apostrophe",
        "{'step1': 'Find Aya's speed', 'step2': 'Add'}",
        ("Find Aya's speed", "Add"),
        "json_repaired",
    ),
    (
        "keys_step_space_numeric_order",
        '{"Step 2": "b", "Step 10": "c", "Step 1": "a"}',
        ("a", "b", "c"),
        "json",
    ),
    ("keys_step_underscore", '{"step_2": "b", "step_1": "a"}', ("a", "b"), "json"),
    ("keys_bare_numbers", '{"2": "b", "1": "a"}', ("a", "b"), "json"),
    (
        "values_dicts",
        '{"step1": {"description": "a", "difficulty": 0.2}, "step2": {"text": "b"}}',
        ("a", "b"),
        "json",
    ),
    ("values_lists", '{"step1": ["a", "b"], "step2": "c"}', ("a b", "c"), "json"),
    ("json_list", '["a", "b", "c"]', ("a", "b", "c"), "json"),
    ("list_of_dicts", '[{"step": "a"}, {"step": "b"}]', ("a", "b"), "json"),
    ("wrapped_steps", '{"steps": ["a", "b"]}', ("a", "b"), "json"),
    ("wrapped_outline", '{"outline": {"step1": "a", "step2": "b"}}', ("a", "b"), "json"),
    ("extra_unnumbered_key", '{"step1": "a", "step2": "b", "answer": "42"}', ("a", "b"), "json"),
    ("number_value_is_no_step", '{"step1": 5, "step2": "b"}', ("b",), "json"),
    ("debris_steps_dropped", '{"step1": "[", "step2": "{ \\"step21.step12", "step3": "Find x"}', ("Find x",), "json"),
    (
        "think_block_stripped",
        '<think>maybe {"step1": "no"}</think>\n{"step1": "yes"}',
        ("yes",),
        "json",
    ),
    (
        "unclosed_think_only",
        '<think>The outline: {"step1": "a", "step2": "b"}',
        ("a", "b"),
        "json",
    ),
    ("close_tag_only", 'plan {"step1": "no"}</think>{"step1": "yes"}', ("yes",), "json"),
    (
        "latex_unescaped",
        '{"step1": "Compute $\\frac{1}{2}$", "step2": "Use $\\theta$ and \\(x\\)"}',
        ("Compute $\\frac{1}{2}$", "Use $\\theta$ and \\(x\\)"),
        "json_repaired",
    ),
    ("latex_escaped", '{"step1": "Compute $\\\\frac{1}{2}$"}', ("Compute $\\frac{1}{2}$",), "json"),
    (
        "unescaped_inner_quotes",
        '{"step1": "Read "the" data", "step2": "b"}',
        ('Read "the" data', "b"),
        "json_repaired",
    ),
    ("truncated_json", '{"step1": "a", "step2": "b', ("a", "b"), "json_repaired"),
    (
        "empty_steps_dropped",
        '{"step1": "a", "step2": "  ", "step3": "", "step4": "b"}',
        ("a", "b"),
        "json",
    ),
    ("numbered_dot", "1. Find x\n2. Find y", ("Find x", "Find y"), "numbered_list"),
    ("numbered_paren", "1) Find x\n2) Find y", ("Find x", "Find y"), "numbered_list"),
    ("step_colon", "Step 1: Find x\nStep 2: Find y", ("Find x", "Find y"), "numbered_list"),
    ("bullets", "- Find x\n- Find y", ("Find x", "Find y"), "numbered_list"),
    (
        "markdown_bold_steps",
        "Plan:\n**Step 1:** Find x\n**Step 2**: Find y\n\nThat is all.",
        ("Find x", "Find y"),
        "numbered_list",
    ),
    (
        "numbered_with_details",
        "1. Find x\n   using y\n   - by parts\n2. Find z\n\nHope this helps!",
        ("Find x using y - by parts", "Find z"),
        "numbered_list",
    ),
    (
        "list_quoting_a_dict",
        "1. Build {'a': 1} from the data\n2. Sum it",
        ("Build {'a': 1} from the data", "Sum it"),
        "numbered_list",
    ),
    ("unnumbered_keys", '{"first": "a", "then": "b"}', ("a", "b"), "json"),
    (
        "json_like_lines",
        '"step1": "Find x",\n"step2": "Find y"',
        ("Find x", "Find y"),
        "numbered_list",
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "steps", "how"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_parse_outline_cases(text: str, steps: tuple[str, ...], how: str) -> None:
    result = parse_outline(text)
    assert result == ParsedOutline(steps, how)
    assert result.ok


FAILURES = [
    ("empty", ""),
    ("whitespace", "  \n\t "),
    ("prose", "I cannot decompose this problem."),
    ("all_steps_empty", '{"step1": "", "step2": "   "}'),
    ("think_only_closed", '<think>{"step1": "a"}</think>'),
    ("scalar_json", "42"),
    ("json_debris", '[\n{ "step21.step12\n'),  # seen in make demo: no word, no step
]


@pytest.mark.parametrize("text", [c[1] for c in FAILURES], ids=[c[0] for c in FAILURES])
def test_parse_outline_failures(text: str) -> None:
    result = parse_outline(text)
    assert result.how == "failed"
    assert result.steps == ()
    assert result.error
    assert not result.ok


def test_truncation_keeps_the_last_step() -> None:
    text = json.dumps({f"step{i}": f"s{i}" for i in range(1, 16)})
    result = parse_outline(text, max_steps=12)
    # The last step is the one SCALE replaces by the question: it stays, the middle goes.
    assert result.steps == (*(f"s{i}" for i in range(1, 12)), "s15")
    assert (result.how, result.truncated) == ("json", 3)
    assert parse_outline(text, max_steps=15).truncated == 0
    assert parse_outline(text, max_steps=1).steps == ("s15",)


def test_max_steps_below_one_fails() -> None:
    result = parse_outline('{"step1": "a"}', max_steps=0)
    assert result.how == "failed"
    assert not result.ok


def test_non_string_input_fails() -> None:
    assert parse_outline(None).how == "failed"  # type: ignore[arg-type]


THINK_CASES = [
    ("none", "answer", "answer"),
    ("closed", "<think>reasoning</think>answer", "answer"),
    ("two_blocks", "<think>a</think>x<think>b</think>y", "xy"),
    ("open_in_prompt", "reasoning</think>answer", "answer"),
    ("unclosed_after_answer", "answer<think>more", "answer"),
    ("unclosed_only", "<think>0.7", "0.7"),
    ("case_and_spaces", "<THINK>r</ think >a", "a"),
]


@pytest.mark.parametrize(
    ("text", "expected"), [c[1:] for c in THINK_CASES], ids=[c[0] for c in THINK_CASES]
)
def test_strip_think(text: str, expected: str) -> None:
    assert strip_think(text).strip() == expected


def _check(result: ParsedOutline, max_steps: int) -> None:
    assert result.how in HOWS
    assert len(result.steps) <= max(max_steps, 0)
    assert all(isinstance(s, str) and s and s == s.strip() for s in result.steps)
    assert result.ok == bool(result.steps)
    assert (result.how == "failed") == (not result.steps)
    assert (result.error is not None) == (result.how == "failed")


@settings(max_examples=300, deadline=None)
@given(st.text(), st.integers(min_value=-1, max_value=15))
def test_never_raises_on_text(text: str, max_steps: int) -> None:
    _check(parse_outline(text, max_steps=max_steps), max_steps)
    assert isinstance(strip_think(text), str)


@settings(max_examples=300, deadline=None)
@given(adversarial, st.integers(min_value=1, max_value=15))
def test_never_raises_on_adversarial(text: str, max_steps: int) -> None:
    _check(parse_outline(text, max_steps=max_steps), max_steps)
    assert isinstance(strip_think(text), str)


# Control characters are excluded: "\x0c" + letters is indistinguishable from mangled LaTeX.
_printable = st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1)


@settings(max_examples=300, deadline=None)
@given(st.lists(_printable.filter(has_word), min_size=1, max_size=20))
def test_roundtrip_json(steps: list[str]) -> None:
    """Any outline serialised the way the prompt asks comes back exactly (the last step kept)."""
    text = json.dumps({f"step{i}": s for i, s in enumerate(steps, 1)})
    result = parse_outline(text, max_steps=12)
    assert result.how == "json"
    clean = tuple(s.strip() for s in steps)
    assert result.steps == (clean if len(clean) <= 12 else (*clean[:11], clean[-1]))
    assert result.truncated == max(0, len(clean) - 12)


@pytest.mark.parametrize(("step", "word"), [
    ("Find x", True), ("a", True), ("$a+b$", True), ("\\frac{1}{2} of it", True), ("步骤", True),
    ("[", False), ('{ "step21.step12', False), ("5", False), ("Step 3", False), ("", False), ("{ } ,", False)])
def test_a_step_needs_a_word(step: str, word: bool) -> None:
    assert has_word(step) is word
