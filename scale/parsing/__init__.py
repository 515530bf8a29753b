"""Parsers that turn untrusted LLM text into structured values; none of them raises.

- :func:`parse_outline`: a decomposition reply -> ordered step texts.
- :func:`parse_score`: a difficulty reply -> a float in [0, 1].
- :func:`parse_choice`: an outline-selection reply -> a 0-based index.
- :func:`split_condition_question`: a problem statement -> condition and final question.
- :func:`strip_think`: drop ``<think>...</think>`` reasoning (used by all of the above).
"""

from scale.parsing.choice import parse_choice
from scale.parsing.outline import ParsedOutline, parse_outline, strip_think
from scale.parsing.question import SplitProblem, split_condition_question
from scale.parsing.score import ParsedScore, parse_score

__all__ = [
    "ParsedOutline",
    "ParsedScore",
    "SplitProblem",
    "parse_choice",
    "parse_outline",
    "parse_score",
    "split_condition_question",
    "strip_think",
]
