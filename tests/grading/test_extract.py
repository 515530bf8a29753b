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
        pytest.param(
            "I computed 12 then 1,234 in total", "1234", "last_expression", id="last-number"
        ),
        pytest.param("x went from 3 to -7", "-7", "last_expression", id="negative-number"),
        pytest.param(r"\boxed{1+", "1", "last_expression", id="unbalanced-falls-back"),
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
        "last_expression",
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


# --- answer phrase: the answer cut out of its sentence ---------------------------------------
@pytest.mark.parametrize(
    ("text", "answer"),
    [
        pytest.param("Final Answer: The largest $n$ is 34.", "34", id="after-is"),
        pytest.param("The answer is 42 apples.", "42", id="leading-number"),
        pytest.param("The answer is 5 since 2+3 = 5.", "5", id="leading-not-later"),
        pytest.param("The answer is: there are 3 solutions.", "3", id="after-are"),
        pytest.param("The final answer is therefore 12.", "12", id="last-expression"),
        pytest.param("So the answer is x = -3.", "-3", id="after-equals"),
        pytest.param("The answer is Evelyn.", "Evelyn", id="text"),
        pytest.param("Final answer: (C)", "(C)", id="choice"),
        pytest.param("**Final Answer:**\n\n$$\n\\frac{5}{6}\n$$", "\\frac{5}{6}", id="next-line"),
        pytest.param("The final answer: the sum equals 210.", "210", id="equals-word"),
        pytest.param(
            "Final Answer: the minimum is $-\\frac{9}{4}$, attained at $x = 1$.",
            "-\\frac{9}{4}",
            id="first-after-is",
        ),
    ],
)
def test_phrase_cuts_the_answer_out(text: str, answer: str) -> None:
    assert extract_answer(text) == Extraction(answer, "final_answer_phrase")


# --- last expression, not the last run of digits ----------------------------------------------
@pytest.mark.parametrize(
    ("text", "answer"),
    [
        pytest.param("the probability is 2/3.", "2/3", id="fraction"),
        pytest.param("so it is \\frac{10}{9}", "\\frac{10}{9}", id="latex-fraction"),
        pytest.param("the pair is (7, 6).", "(7, 6)", id="tuple"),
        pytest.param("we need x \\geq 5", "x \\geq 5", id="relation"),
        pytest.param("the set is [2, \\infty).", "[2, \\infty)", id="interval"),
        pytest.param(
            "$\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}$",
            "\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}",
            id="matrix",
        ),
        pytest.param("so 48/2 = 24 clips", "24", id="after-equals"),
        pytest.param("it is $2 \\pi$ wide", "2 \\pi", id="space-before-command"),
        pytest.param("I got 5 m", "5", id="unit-letter"),
        pytest.param("$x = 3$ and so the total is 12.", "12", id="later-plain-number"),
        pytest.param(
            "the point $\\left( 3, \\frac{\\pi}{2} \\right)$",
            "\\left( 3, \\frac{\\pi}{2} \\right)",
            id="left-right",
        ),
        pytest.param("the discount is 25%.", "25%", id="percent"),
        pytest.param("pairs (option C) are fine 7", "7", id="words-in-brackets"),
        pytest.param("The total is $18.", "18", id="currency-dollar"),
    ],
)
def test_last_expression(text: str, answer: str) -> None:
    assert extract_answer(text) == Extraction(answer, "last_expression")


# --- several final boxes, and a box against a later "final answer is" --------------------------
@pytest.mark.parametrize(
    ("text", "answer", "how"),
    [
        pytest.param("$x=\\boxed{1}$ or $x=\\boxed{-2}$", "1, -2", "boxed_last_of_n", id="or"),
        pytest.param(
            "$\\boxed{2}$, $\\boxed{3}$, and $\\boxed{5}$.",
            "2, 3, 5",
            "boxed_last_of_n",
            id="commas-and",
        ),
        pytest.param(
            "x_1 = \\boxed{2},\\quad x_2 = \\boxed{3}", "2, 3", "boxed_last_of_n", id="subscripts"
        ),
        pytest.param(
            "\\boxed{1} \\text{ or } \\boxed{-2}", "1, -2", "boxed_last_of_n", id="text-or"
        ),
        pytest.param("\\boxed{5} and \\boxed{5}", "5", "boxed_last_of_n", id="duplicates"),
        pytest.param(
            "a = \\boxed{3} and the area is \\boxed{12}",
            "12",
            "boxed_last_of_n",
            id="and-then-words",
        ),
        pytest.param(
            "\\boxed{12} so far; the final answer is 7.",
            "7",
            "final_answer_phrase",
            id="final-phrase-after-box",
        ),
        pytest.param(
            "The final answer is 7. Re-check: \\boxed{8}.",
            "8",
            "boxed",
            id="box-after-final-phrase",
        ),
        pytest.param(
            "\\boxed{6}. To check the answer: 2 \\cdot 3 = 6.",
            "6",
            "boxed",
            id="plain-answer-phrase-does-not-override",
        ),
        pytest.param(
            "\\boxed{5}. I hope the final answer is correct.",
            "5",
            "boxed",
            id="final-phrase-without-math",
        ),
        pytest.param(
            "The final answer is $\\boxed{24}$.\nThe final answer is 24.",
            "24",
            "boxed",
            id="phrase-repeats-box",
        ),
    ],
)
def test_final_boxes_and_order(text: str, answer: str, how: str) -> None:
    assert extract_answer(text) == Extraction(answer, how)


@pytest.mark.parametrize("opener", ["\\text{", "\\begin{pmatrix}", "(", "\\{", "\\boxed{"])
def test_many_unclosed_groups_stay_fast(opener: str) -> None:
    """A degenerate generation repeating an opener must not make extraction quadratic. Proven
    by growth, not by a wall-clock limit (a busy machine is slow, not wrong): 8x the text must
    take well under 64x the time (linear: 8x; measured here 9-11x; quadratic: 64x). CPU time of
    this process, not wall time, so other processes' load counts less; the sizes alternate,
    fastest of three."""
    texts = {n: (opener + "1+") * n + " so 7" for n in (2_500, 20_000)}
    best = dict.fromkeys(texts, float("inf"))
    for _ in range(3):
        for n, text in texts.items():
            start = time.process_time()
            assert extract_answer(text) == Extraction("7", "last_expression")
            best[n] = min(best[n], time.process_time() - start)
    small, large = best[2_500], best[20_000]
    assert large < 24 * small, f"8x the text took {large / small:.1f}x the time ({small:.3f} s -> {large:.3f} s)"
