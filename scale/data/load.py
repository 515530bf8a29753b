"""Load a benchmark into :class:`Problem` records, from a local JSONL file or the Hub."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from scale.data.gold import normalize_gold
from scale.data.problem import Problem
from scale.data.registry import BenchmarkSpec, get_spec
from scale.errors import DataError
from scale.paths import shared_data_dir

log = logging.getLogger(__name__)

PACKAGE_DATA = Path(__file__).resolve().parent


def _rows_from_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    if not path.is_file():
        raise DataError(f"data file not found: {path}")
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise DataError(f"{path}:{lineno}: malformed JSON ({err.msg} at column {err.colno})") from None
            if not isinstance(row, dict):
                raise DataError(f"{path}:{lineno}: expected a JSON object, got {type(row).__name__}")
            yield lineno, row


def _field(row: dict[str, Any], names: Iterable[str], where: str) -> Any:
    names = list(names)
    for name in names:
        if name in row and row[name] is not None and str(row[name]).strip() != "":
            return row[name]
    raise DataError(f"{where}: missing field {names[0]!r}" + (
        f" (also tried {', '.join(map(repr, names[1:]))})" if len(names) > 1 else ""))


def _to_problem(spec: BenchmarkSpec, row: dict[str, Any], where: str, index: int) -> Problem:
    question = _field(row, [spec.question_field, *spec.alt_question_fields], where)
    raw_answer = _field(row, [spec.answer_field], where)
    try:
        answer = normalize_gold(raw_answer)
    except ValueError as err:
        raise DataError(f"{where}: field {spec.answer_field!r}: {err}") from None
    ident = str(row[spec.id_field]) if spec.id_field and spec.id_field in row else str(index)
    meta = {k: v for k, v in row.items() if k not in {spec.question_field, spec.answer_field}}
    return Problem(id=f"{spec.name}-{ident}", question=str(question).strip(), answer=answer, meta=meta)


def _auto_spec(path: Path, name: str | None) -> BenchmarkSpec:
    """Field mapping for a user file: the named set's, else problem/question + answer."""
    if name:
        return get_spec(name)
    return BenchmarkSpec(path.stem, "", "", path.name, "problem", "answer",
                         alt_question_fields=("question",))


def source_path(name: str) -> Path:
    """Where a registered set is read from locally."""
    spec = get_spec(name)
    if name == "demo":
        return PACKAGE_DATA / spec.file
    return shared_data_dir() / spec.file


def load_benchmark(name: str | None = None, path: str | Path | None = None,
                   limit: int | None = None) -> list[Problem]:
    """Problems of benchmark ``name`` (or of the JSONL file ``path``), in file order.

    With neither a local file nor ``path``, the set is loaded from the Hub by its id.
    """
    if name is None and path is None:
        raise DataError("give a benchmark name (data.name) or a file (data.path)")
    if limit is not None and limit < 1:
        raise DataError(f"data.limit must be >= 1, got {limit}")
    if path is not None:
        file = Path(path).expanduser()
        spec = _auto_spec(file, name)
        rows: Iterable[tuple[int, dict[str, Any]]] = _rows_from_jsonl(file)
        where_of = lambda n: f"{file}:{n}"
    else:
        spec = get_spec(name)  # type: ignore[arg-type]
        file = source_path(name)  # type: ignore[arg-type]
        if file.is_file():
            rows = _rows_from_jsonl(file)
            where_of = lambda n: f"{file}:{n}"
        else:
            rows = _rows_from_hub(spec)
            where_of = lambda n: f"{spec.hub_id}[{spec.split}] row {n}"
    problems: list[Problem] = []
    for index, (lineno, row) in enumerate(rows):
        problems.append(_to_problem(spec, row, where_of(lineno), index))
        if limit is not None and len(problems) >= limit:
            break
    if not problems:
        raise DataError(f"no problems in {file}")
    seen: set[str] = set()
    for p in problems:
        if p.id in seen:
            raise DataError(f"{file}: duplicate problem id {p.id!r}")
        seen.add(p.id)
    return problems


def _rows_from_hub(spec: BenchmarkSpec) -> Iterator[tuple[int, dict[str, Any]]]:
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
        yield i, dict(row)


def load_from_config(node: dict[str, Any] | None) -> list[Problem]:
    """Problems described by a ``data`` config node (``name``, ``path``, ``limit``, ...)."""
    node = dict(node or {})
    return load_benchmark(node.get("name"), node.get("path"), node.get("limit"))
