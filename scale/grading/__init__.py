"""Answer extraction, gold normalisation and Math-Verify grading."""

from scale.data.gold import normalize_gold
from scale.grading.answers import grade_answer
from scale.grading.extract import Extraction, extract_answer, extract_boxed_all
from scale.grading.verify import Grader, Verdict

__all__ = [
    "Extraction",
    "Grader",
    "Verdict",
    "extract_answer",
    "extract_boxed_all",
    "grade_answer",
    "normalize_gold",
]
