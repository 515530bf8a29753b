"""Rule-based split of a math problem into its condition and its final question.

The paper used an LLM for this; a deterministic splitter is cheaper and testable.

Sentences end at ``.``, ``?`` or ``!`` (plus closing quotes/brackets) followed by
whitespace and a capital letter, digit, opening quote/bracket or math, or by the end of the
text. Also at a blank line before a capitalised paragraph, after display math, an
environment or an ``[asy]`` figure followed by a capital ("\\]Find $x$."), and after
inline math ending in punctuation ("$y = 2x.$ Find"). Never inside LaTeX math (``$...$``,
``$$...$$``, ``\\(...\\)``, ``\\[...\\]``, ``\\begin{..}...\\end{..}``) or figures, never
after abbreviations (e.g., i.e., Mr., Dr., vs., ...); decimals (3.5) never split since no
whitespace follows the dot. A ``$`` before an amount and words or punctuation ("$2 per
egg", "$5.") is currency, not math, so GSM8K prices do not swallow sentences.

The question starts at the last question-like sentence, ending in ``?`` or opening with an
imperative/question word (Find, Compute, What, How, ...) or "Let/Given/If ..." containing
one; answer-format trailers ("Express your answer as a common fraction.") stay attached to
the question before them. With no question-like sentence the question is the last
(non-trailer) sentence. ``condition`` and ``question`` are stripped slices of the input, so
together they hold every non-whitespace character in order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["SplitProblem", "split_condition_question"]


@dataclass(frozen=True)
class SplitProblem:
    """``condition``: text before the question ("" for one sentence); ``question``: the rest."""

    condition: str
    question: str


# --------------------------------------------------------------------------- protected spans

# A "$" opening an amount followed by words or punctuation ("$2 per", "$5.", "$1,000 and")
# is a price. Math that starts with a digit continues with "$", an operator or a symbol.
_CURRENCY = re.compile(
    r"\$\d+(?:[, ]\d{3})*(?:\.\d+)?(?![.,]?\$)(?=\s+[A-Za-z(\"']|\s*[.,;:!?)](?!\d)|\s*$)"
)
_DISPLAY_PAIRS = (("$$", "$$"), ("\\[", "\\]"), ("[asy]", "[/asy]"))
_BEGIN_ENV = re.compile(r"\\begin\{([A-Za-z*]{1,30})\}")


@dataclass(frozen=True)
class _Span:
    start: int
    end: int
    display: bool  # display math, environments and figures stand between sentences
    inner_end: int  # end of the content, before the closer


def _opener_at(text: str, i: int) -> tuple[str, str, bool] | None:
    """``(opener, closer, display)`` of a math span or figure starting at ``i``."""
    for opener, closer in _DISPLAY_PAIRS:
        if text.startswith(opener, i):
            return opener, closer, True
    if text.startswith("\\(", i):
        return "\\(", "\\)", False
    m = _BEGIN_ENV.match(text, i)
    if m:
        return m.group(), f"\\end{{{m.group(1)}}}", True
    if text[i] == "$" and not _CURRENCY.match(text, i):
        return "$", "$", False
    return None


def _protected(text: str) -> list[_Span]:
    """Math and figure spans, in order; unclosed openers are plain text."""
    spans: list[_Span] = []
    exhausted: set[str] = set()  # closers known to be absent from here on: keeps this linear
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "\\" and text.startswith("\\$", i):
            i += 2  # escaped dollar is a literal
            continue
        found = _opener_at(text, i) if c in "$\\[" else None
        if found is None or found[1] in exhausted:
            i += 1
            continue
        opener, closer, display = found
        j = i + len(opener)
        while True:  # find an unescaped closer
            end = text.find(closer, j)
            if end == -1 or closer != "$" or text[end - 1] != "\\":
                break
            j = end + 1
        if end == -1:
            exhausted.add(closer)
            i += 1
            continue
        spans.append(_Span(i, end + len(closer), display, end))
        i = end + len(closer)
    return spans


# --------------------------------------------------------------------------- sentences

_NEXT_SENTENCE = r"(?:\s+(?:[\"'“‘(\[]*[A-Z0-9]|\$|\\[(\[])|\s*$)"
_BOUNDARY = re.compile(
    rf"(?:[.?!]+[\"'”’)\]]*(?={_NEXT_SENTENCE})|(?=\n[ \t]*\n\s*[\"'“‘(\[]*[A-Z]))"
)
_AFTER_INLINE = re.compile(_NEXT_SENTENCE)  # "$x = 2.$ Find" ends a sentence at the "$"
_AFTER_DISPLAY = re.compile(r"\s*[\"'“‘(\[]*[A-Z]")  # "\]Find $x$." too
_ENDS_WITH_PUNCT = re.compile(r"[.?!]\s*$")
_ABBREVIATIONS = frozenset(
    {"e.g", "i.e", "mr", "mrs", "ms", "dr", "vs", "st", "jr", "sr", "prof", "approx", "cf",
     "fig", "eq", "no", "viz", "resp"}
)  # fmt: skip
_WORD_BEFORE = re.compile(r"([A-Za-z](?:[A-Za-z.]*[A-Za-z])?)\.$")


def _is_abbreviation(text: str, dot: int) -> bool:
    """True if the '.' at ``dot`` ends a known abbreviation such as "e.g." or "Dr."."""
    m = _WORD_BEFORE.search(text, max(0, dot - 12), dot + 1)
    return bool(m) and m.group(1).lower() in _ABBREVIATIONS


def _span_ends_sentence(text: str, span: _Span) -> bool:
    if span.display:
        return bool(_AFTER_DISPLAY.match(text, span.end))
    # Inline math ending in punctuation ("$x = 2.$ Then") closes the sentence.
    return bool(
        _ENDS_WITH_PUNCT.search(text, span.start, span.inner_end)
        and _AFTER_INLINE.match(text, span.end)
    )


def _sentence_starts(text: str) -> list[int]:
    """Start offsets (at non-whitespace) of the sentences of ``text``."""
    spans = _protected(text)
    starts = [0] + [s.end for s in spans if _span_ends_sentence(text, s)]
    k = 0
    for m in _BOUNDARY.finditer(text):
        while k < len(spans) and spans[k].end <= m.start():
            k += 1
        if k < len(spans) and spans[k].start <= m.start() < spans[k].end:
            continue  # inside math or a figure
        punct = m.group()
        if punct.rstrip("\"'”’)]") == "." and _is_abbreviation(text, m.start()):
            continue
        starts.append(m.end())
    out: list[int] = []
    for s in sorted(starts):
        while s < len(text) and text[s].isspace():
            s += 1
        if s < len(text) and (not out or s > out[-1]):
            out.append(s)
    return out


# --------------------------------------------------------------------------- classification

_QUESTION_WORDS = (
    "find|compute|determine|what|how|evaluate|calculate|express|show|prove|which|who|whom|"
    "whose|where|when|why|simplify|solve|convert|factor|expand|rationalize|write|give|enter|"
    "list|estimate|verify|identify|round|approximate"
)
_FIRST_WORD = re.compile(r"^[\s\"'“‘(\[*_]*(?P<word>[A-Za-z]+)")
_STARTS_QUESTION = re.compile(rf"^(?:{_QUESTION_WORDS})$", re.IGNORECASE)
_CONDITIONAL_OPENERS = {"let", "given", "if", "suppose", "assume", "assuming", "using", "for"}
_EMBEDDED_QUESTION = re.compile(
    r"\b(?:find|compute|determine|evaluate|calculate|express|show|prove|what|how|which|"
    r"simplify|solve)\b"
)  # lowercase only: a verb inside the sentence, not a proper noun
_ENDS_QUESTION = re.compile(r"\?[\s\"'”’)\]*_.]*$")
_TRAILER = re.compile(
    r"^[\s\"'“‘(\[*_]*(?:(?:express|enter|give|write|round|leave|present|separate|put|state|"
    r"simplify|list|include|type)\b.*\b(?:answers?|form|fraction|decimal|nearest|radical|"
    r"separated|commas?|units?|percent|integer|digits?|notation|order|pi)\b"
    r"|your\s+answer|note\b|\(?\s*answer\b)",
    re.IGNORECASE | re.DOTALL,
)


def _is_trailer(sentence: str) -> bool:
    return bool(_TRAILER.match(sentence))


def _is_question(sentence: str) -> bool:
    if _ENDS_QUESTION.search(sentence):
        return True
    m = _FIRST_WORD.match(sentence)
    if not m:
        return False
    word = m.group("word")
    if _STARTS_QUESTION.match(word):
        return True
    return word.lower() in _CONDITIONAL_OPENERS and bool(
        _EMBEDDED_QUESTION.search(sentence, m.end())
    )


def _question_start(text: str) -> int:
    starts = _sentence_starts(text)
    if not starts:
        return 0
    bounds = [*starts[1:], len(text)]
    sentences = [text[s:e] for s, e in zip(starts, bounds, strict=True)]
    trailer = [_is_trailer(s) for s in sentences]
    question = [_is_question(s) for s in sentences]
    for want_trailer in (False, True):  # a real question first, else an "Express ..." one
        for i in range(len(sentences) - 1, -1, -1):
            if question[i] and trailer[i] == want_trailer:
                return starts[i]
    # No question-like sentence: the last one, with any format trailers after it.
    i = len(sentences) - 1
    while i > 0 and trailer[i]:
        i -= 1
    return starts[i]


def split_condition_question(problem: str) -> SplitProblem:
    """Split ``problem`` into condition and final question (see module docstring).

    Never raises; empty or non-string input gives ``SplitProblem("", "")``.
    """
    if not isinstance(problem, str) or not problem.strip():
        return SplitProblem("", "")
    try:
        start = _question_start(problem)
    except Exception:  # last-resort guard: fall back to the whole text as the question
        start = 0
    return SplitProblem(problem[:start].strip(), problem[start:].strip())
