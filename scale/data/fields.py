"""Which row fields hold the question, the answer, the id and the givens (``condition``).

A registered benchmark names its fields in the registry. A user's file (``data.path``) brings
its own: each field is taken from ``data.fields.<key>`` when given, else detected from the
first row. Detection order is the order of the tuples below.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from scale.data.registry import BenchmarkSpec
from scale.errors import DataError

__all__ = ["FIELD_KEYS", "FieldMap", "check_overrides", "detect_fields", "fields_from_spec"]

QUESTION_FIELDS = ("problem", "question", "prompt")
ANSWER_FIELDS = ("answer", "expected_answer", "solution")
ID_FIELDS = ("id", "unique_id", "idx")
CONDITION_FIELDS = ("condition", "conditions")  # the authors' pre-split files say "conditions"
FIELD_KEYS = ("question", "answer", "id", "condition")


@dataclass(frozen=True)
class FieldMap:
    """Row field names; ``id=None`` numbers problems by line (JSONL) or row (other formats)."""

    question: str
    answer: str
    id: str | None = None
    condition: str | None = None
    alt_question: tuple[str, ...] = ()  # registry sets: other names a row may use
    # Pre-split rows that also carry the whole statement (the authors' files: ``problem`` beside
    # ``condition`` + ``question``): the problem text; None rebuilds it from the two parts.
    full: str | None = None

    def describe(self) -> str:
        return (
            f"question={self.question!r} answer={self.answer!r} "
            f"id={self.id if self.id else '(line/row number)'!r} condition={self.condition!r}"
            + (f" problem={self.full!r}" if self.full else "")
        )


def check_overrides(overrides: Mapping[str, Any] | None) -> dict[str, str]:
    """The non-null ``data.fields`` entries; an unknown key or a non-text value is refused."""
    given: dict[str, str] = {}
    for key, value in (overrides or {}).items():
        if key not in FIELD_KEYS:
            raise DataError(f"unknown key data.fields.{key}; known: {', '.join(FIELD_KEYS)}")
        if value is None:
            continue
        if not isinstance(value, str) or not value.strip():
            raise DataError(f"data.fields.{key} must name a field, got {value!r}")
        given[key] = value.strip()
    return given


def fields_from_spec(spec: BenchmarkSpec, overrides: Mapping[str, Any] | None = None) -> FieldMap:
    """A registered set's mapping, with any ``data.fields`` entries on top."""
    given = check_overrides(overrides)
    return FieldMap(
        question=given.get("question", spec.question_field),
        answer=given.get("answer", spec.answer_field),
        id=given.get("id", spec.id_field),
        condition=given.get("condition"),
        alt_question=() if "question" in given else spec.alt_question_fields,
    )


def _first_present(row: Mapping[str, Any], names: tuple[str, ...]) -> str | None:
    return next((name for name in names if name in row), None)


def _missing(where: str, key: str, names: tuple[str, ...], row: Mapping[str, Any]) -> DataError:
    tried = f" (also tried {', '.join(map(repr, names[1:]))})" if len(names) > 1 else ""
    has = ", ".join(map(repr, list(row)[:12])) or "no fields"
    return DataError(
        f"{where}: missing field {names[0]!r}{tried}; the row has {has}; "
        f"pass data.fields.{key}=NAME"
    )


def detect_fields(
    first_row: Mapping[str, Any], where: str, overrides: Mapping[str, Any] | None = None
) -> tuple[FieldMap, str]:
    """The mapping for a user's file, and how it was chosen (for the one log line)."""
    given = check_overrides(overrides)
    for key, name in given.items():
        if name not in first_row:
            has = ", ".join(map(repr, list(first_row)[:12])) or "no fields"
            raise DataError(
                f"{where}: data.fields.{key}={name!r} is not a field of the first row "
                f"(it has {has})"
            )
    condition = given.get("condition") or _first_present(first_row, CONDITION_FIELDS)
    question = given.get("question")
    full = None
    if question is None:
        # Pre-split rows: "question" is the final sub-question next to the givens.
        if condition is not None and "question" in first_row:
            question = "question"
            full = "problem" if "problem" in first_row else None
        else:
            question = _first_present(first_row, QUESTION_FIELDS)
            if condition is not None and "condition" not in given:
                condition = None  # givens without a final question: "problem" already has them
    if question is None:
        raise _missing(where, "question", QUESTION_FIELDS, first_row)
    answer = given.get("answer") or _first_present(first_row, ANSWER_FIELDS)
    if answer is None:
        raise _missing(where, "answer", ANSWER_FIELDS, first_row)
    ident = given.get("id") or _first_present(first_row, ID_FIELDS)
    how = "detected from the first row"
    if given:
        how = f"data.fields: {', '.join(sorted(given))}; the rest detected from the first row"
    return FieldMap(question, answer, ident, condition, full=full), how
