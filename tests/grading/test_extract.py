"""Answer extraction: boxes, fallbacks, and never raising on arbitrary text."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scale.grading import Extraction, extract_answer, extract_boxed_all


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(r"\boxed{\frac{1}{2}}", [r"\frac{1}{2}"], id="nested-braces"),
        pytest.param(r"\boxed{\{1, 2\}}", [r"\{1, 2\}"], id="escaped-set-braces"),
        pytest.param(r"a \boxed{1} b \boxed{2} c \fbox{3}", ["1", "2", "3"], id="order"),
        pytest.param(r"$\boxed 5$ and \boxed  12.", ["5", "12."], id="no-brace-form"),
        pytest.param(r"\fbox{x^{2}}", ["x^{2}"], id="fbox"),
        pytest.param(r"\boxed{1+", [], id="unbalanced"),
        pytest.param(r"\boxed{1+ \boxed{2}", ["2"], id="unbalanced-then-balanced"),
        pytest.param(r"\boxedfoo{3}", [], id="longer-macro-name"),
        pytest.param(r"\boxed{}", [""], id="empty-box"),
        pytest.param("no box here", [], id="none"),
    ],
)
def test_extract_boxed_all(text: str, expected: list[str]) -> None:
    assert extract_boxed_all(text) == expected


@pytest.mark.parametrize(
    ("text", "answer", "how"),
    [
        pytest.param(r"So $\boxed{\frac{1}{2}}$.", r"\frac{1}{2}", "boxed", id="nested-braces"),
        pytest.param(
            r"First \boxed{3}, wait, actually \boxed{4}.", "4", "boxed_last_of_n", id="last-wins"
        ),
        pytest.param(r"The answer is $\boxed 5$", "5", "boxed", id="no-brace"),
        pytest.param(r"\fbox{7}", "7", "fbox", id="fbox"),
        pytest.param(r"\boxed{1} then \fbox{7}", "7", "fbox", id="fbox-last"),
        pytest.param(r"\boxed{\boxed{8}}", "8", "boxed", id="box-in-box"),
        pytest.param(r"\boxed{2} \boxed{}", "2", "boxed", id="empty-box-skipped"),
        pytest.param(
            "Final Answer: The final answer is $12$. I hope it is correct.",
            "12",
            "final_answer_phrase",
            id="minerva-phrase",
        ),
        pytest.param(
            "We get 3 and 4.\nAnswer: 42 apples", "42", "final_answer_phrase", id="answer-colon"
        ),
        pytest.param(
            "**Final Answer:** $\\frac{3}{4}$", r"\frac{3}{4}", "final_answer_phrase", id="bold"
        ),
        pytest.param(
            "so the answer is 0.5. Done", "0.5", "final_answer_phrase", id="decimal-not-sentence"
        ),
        pytest.param("I computed 12 then 1,234 in total", "1234", "last_number", id="last-number"),
        pytest.param("x went from 3 to -7", "-7", "last_number", id="negative-number"),
        pytest.param(r"\boxed{1+", "1", "last_number", id="unbalanced-falls-back"),
        pytest.param("no digits at all", None, "none", id="nothing"),
        pytest.param("", None, "none", id="empty"),
    ],
)
def test_extract_answer(text: str, answer: str | None, how: str) -> None:
    assert extract_answer(text) == Extraction(answer, how)


_FRAGMENTS = st.sampled_from(
    [
        "\\boxed{",
        "\\boxed ",
        "\\boxed",
        "\\fbox{",
        "}",
        "{",
        "\\{",
        "\\}",
        "\\",
        "$",
        "$$",
        "\\(",
        "\\)",
        " ",
        "\n",
        ".",
        ",",
        "-",
        "answer:",
        "The final answer is ",
        "**",
        "\\frac{1}{2}",
    ]
)
_LATEXISH = st.lists(st.one_of(_FRAGMENTS, st.integers(-(10**6), 10**6).map(str)), max_size=40)


def _check(text: str) -> None:
    result = extract_answer(text)
    assert result.how in {
        "boxed",
        "boxed_last_of_n",
        "fbox",
        "final_answer_phrase",
        "last_number",
        "none",
    }
    assert (result.answer is None) == (result.how == "none")
    assert all(isinstance(box, str) for box in extract_boxed_all(text))


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_extract_never_raises_on_arbitrary_text(text: str) -> None:
    _check(text)


@settings(max_examples=500, deadline=None)
@given(_LATEXISH)
def test_extract_never_raises_on_latex_fragments(parts: list[str]) -> None:
    _check("".join(parts))


def test_many_unbalanced_boxes_stay_fast() -> None:
    # A degenerate generation repeating "\boxed{" must not make extraction quadratic.
    text = "\\boxed{1+" * 20_000 + " so 7"
    start = time.monotonic()
    assert extract_answer(text) == Extraction("7", "last_number")
    assert time.monotonic() - start < 2.0
