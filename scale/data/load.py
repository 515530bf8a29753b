"""Load problems from a registered benchmark (local file or Hub) or a user's own file.

The runner's one entry is :func:`load_from_config` (the ``data`` config node); scripts and
tests call :func:`load_benchmark`. See docs/data.md for formats, field detection, overrides,
pre-split files and repeated rows.
"""

from __future__ import annotations

import logging
import numbers
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from scale.data.fields import FieldMap, detect_fields, fields_from_spec
from scale.data.gold import has_final_answer, normalize_gold
from scale.data.label import data_label
from scale.data.problem import Problem
from scale.data.readers import Row, read_rows
from scale.data.registry import BENCHMARKS, BenchmarkSpec, get_spec
from scale.errors import DataError
from scale.paths import shared_data_dir

__all__ = ["load_benchmark", "load_from_config", "source_path"]

log = logging.getLogger(__name__)

PACKAGE_DATA = Path(__file__).resolve().parent
CONFIG_KEYS = ("name", "path", "limit", "fields")
SAMPLE_FIELD = "sampling_id"  # rows repeated once per sample carry it (the authors' files)


def source_path(name: str) -> Path:
    """Where a registered set is read from locally."""
    spec = get_spec(name)
    if name == "demo":
        return PACKAGE_DATA / spec.file
    return shared_data_dir() / spec.file


def _rows_from_hub(spec: BenchmarkSpec) -> Iterator[Row]:
    if not spec.hub_id:
        raise DataError(f"benchmark {spec.name!r} has no Hub source and no local file")
    try:
        import datasets

        ds = datasets.load_dataset(spec.hub_id, spec.hub_config, split=spec.split)
    except Exception as err:  # the Hub client raises many types; one line is what users need
        raise DataError(
            f"benchmark {spec.name!r}: no local file {shared_data_dir() / spec.file} and "
            f"loading {spec.hub_id} from the Hub failed: {str(err).splitlines()[0][:200]}"
        ) from None
    for i, row in enumerate(ds, start=1):
        yield f"{spec.hub_id}[{spec.split}] row {i}", i, dict(row)


def _text(row: Mapping[str, Any], names: list[str], where: str) -> str:
    for name in names:
        value = row.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        if isinstance(value, str):
            return value.strip()
        if isinstance(value, numbers.Number) and not isinstance(value, bool):
            return str(value)
        raise DataError(
            f"{where}: field {name!r} is a {type(value).__name__}, not text: {value!r:.80}"
        )
    also = f" (also tried {', '.join(map(repr, names[1:]))})" if len(names) > 1 else ""
    raise DataError(f"{where}: missing field {names[0]!r}{also}")


def _condition(row: Mapping[str, Any], name: str | None, where: str) -> str | None:
    """The givens of a pre-split row: text, or a list of text (joined), or None when empty."""
    if name is None:
        return None
    value = row.get(name)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        value = " ".join(v.strip() for v in value if v.strip())
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise DataError(
            f"{where}: field {name!r} is a {type(value).__name__}, not text: {value!r:.80}"
        )
    return value.strip()


def _to_problem(
    fields: FieldMap, row: Mapping[str, Any], where: str, number: int, label: str
) -> Problem:
    final_question = _text(row, [fields.question, *fields.alt_question], where)
    condition = _condition(row, fields.condition, where)
    raw_answer = row.get(fields.answer)
    if raw_answer is None or (isinstance(raw_answer, str) and not raw_answer.strip()):
        raise DataError(f"{where}: missing field {fields.answer!r}")
    if (
        fields.answer == "solution"
        and isinstance(raw_answer, str)
        and not has_final_answer(raw_answer)
    ):
        raise DataError(
            f"{where}: field 'solution' marks no final answer (no \\boxed{{}} or ####); "
            "pass data.fields.answer=NAME"
        )
    try:
        answer = normalize_gold(raw_answer)
    except ValueError as err:
        raise DataError(f"{where}: field {fields.answer!r}: {err}") from None
    if fields.id is None:
        ident = str(number)
    else:
        ident = _text(row, [fields.id], where)
    used = {
        fields.question,
        *fields.alt_question,
        fields.answer,
        fields.condition,
        fields.full,
        SAMPLE_FIELD,
    }
    meta = {k: v for k, v in row.items() if k not in used}
    # A pre-split row's own statement when it has one (decomposition, selection, scoring and
    # CoT see it, as in the authors' code); the two parts joined only when it has none.
    full = _condition(row, fields.full, where)
    question = full or (f"{condition} {final_question}" if condition else final_question)
    return Problem(
        id=f"{label}-{ident}",
        question=question,
        answer=answer,
        condition=condition,
        meta=meta,
        final_question=final_question if condition else None,
    )


def _check_limit(limit: object) -> int | None:
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise DataError(f"data.limit must be an integer >= 1, got {limit!r}")
    return limit


def load_benchmark(
    name: str | None = None,
    path: str | Path | None = None,
    limit: int | None = None,
    fields: Mapping[str, Any] | None = None,
) -> list[Problem]:
    """Problems of benchmark ``name``, or of the file ``path``, in file order.

    With ``path`` the file brings its own fields (``fields`` entries, else detected from the
    first row) and its name labels the problems (``math500-<id>``); ``name`` is not used then
    (in a config it names the run). Without a local file a registered set is loaded from the
    Hub. Rows repeating an id (one per sample) merge into one problem when question and
    answer agree.
    """
    if not name and path is None:
        raise DataError("give a benchmark name (data.name) or a file (data.path)")
    limit = _check_limit(limit)
    if path is not None:
        source = Path(path).expanduser()
        label = data_label(source)
        rows = read_rows(source)
        spec_fields = None
    else:
        spec = get_spec(name)  # type: ignore[arg-type]
        label = spec.name
        source = source_path(spec.name)
        rows = read_rows(source) if source.is_file() else _rows_from_hub(spec)
        spec_fields = fields_from_spec(spec, fields)
    problems: dict[str, Problem] = {}
    first_seen: dict[str, str] = {}
    repeats = 0
    field_map = spec_fields
    for where, number, row in rows:
        if field_map is None:
            field_map = _fields_for_file(source, row, where, fields)
        problem = _to_problem(field_map, row, where, number, label)
        earlier = problems.get(problem.id)
        if earlier is not None:
            if (earlier.question, earlier.answer) != (problem.question, problem.answer):
                raise DataError(
                    f"{where}: id {problem.id!r} repeats {first_seen[problem.id]} with a different "
                    "question or answer; give each problem its own id (data.fields.id=NAME)"
                )
            repeats += 1
            continue
        problems[problem.id] = problem
        first_seen[problem.id] = where
        if limit is not None and len(problems) >= limit:
            break
    if not problems:
        raise DataError(f"no problems in {source}")
    if path is not None and name and name != label and name in BENCHMARKS:
        log.warning(
            "read %s with its own fields; data.name=%r is not used for it "
            "(the run is named after the file; name=LABEL names it otherwise)",
            source,
            name,
        )
    if repeats:
        log.info(
            "%s: %d repeated rows (same id, question and answer) merged into %d problems",
            source,
            repeats,
            len(problems),
        )
    return list(problems.values())


def _fields_for_file(
    source: Path, first_row: Mapping[str, Any], where: str, overrides: Mapping[str, Any] | None
) -> FieldMap:
    field_map, how = detect_fields(first_row, where, overrides)
    if SAMPLE_FIELD in first_row and field_map.id is None:
        raise DataError(
            f"{where}: rows carry {SAMPLE_FIELD!r} (one row per sample) but no id field; "
            "pass data.fields.id=NAME so that each problem's rows merge into one"
        )
    log.info("%s: fields %s (%s)", source, field_map.describe(), how)
    return field_map


def load_from_config(node: Mapping[str, Any] | None) -> list[Problem]:
    """Problems described by a ``data`` config node: ``name``, ``path``, ``limit``, ``fields``."""
    node = dict(node or {})
    unknown = sorted(set(node) - set(CONFIG_KEYS))
    if unknown:
        raise DataError(f"unknown key data.{unknown[0]}; known: {', '.join(CONFIG_KEYS)}")
    fields = node.get("fields")
    if fields is not None and not isinstance(fields, Mapping):
        raise DataError(
            f"data.fields must be a mapping of {{question, answer, id, condition}}, got {fields!r}"
        )
    return load_benchmark(node.get("name"), node.get("path"), node.get("limit"), fields)
