"""Rows of a user's data file: JSON Lines, a JSON array, Parquet, or a ``datasets`` folder.

Each reader yields ``(where, number, row)``: ``where`` names the file and line (JSONL) or row
(other formats) for error messages, ``number`` is that 1-based line/row number (the id of a
row without one). Any failure is one ``DataError`` line, never a library traceback.
Nothing here unpickles: JSON, Parquet and Arrow only.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from scale.errors import DataError

__all__ = ["Row", "read_rows"]

Row = tuple[str, int, dict[str, Any]]
_FORMATS = ".jsonl, .json (an array of objects), .parquet, or a `datasets` save_to_disk folder"


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return (text[0] if text else type(err).__name__)[:200]


def _as_row(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise DataError(f"{where}: expected a JSON object, got {type(value).__name__}")
    return value


def _malformed(path: Path, lineno: int, err: json.JSONDecodeError) -> DataError:
    return DataError(f"{path}:{lineno}: malformed JSON ({err.msg} at column {err.colno})")


def _rows_from_jsonl(path: Path) -> Iterator[Row]:
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as err:
                raise _malformed(path, lineno, err) from None
            yield f"{path}:{lineno}", lineno, _as_row(value, f"{path}:{lineno}")


def _rows_from_json(path: Path) -> Iterator[Row]:
    text = path.read_text(encoding="utf-8")
    head = text.lstrip()[:1]
    if not head:
        return
    if head not in ("[", "{"):
        raise DataError(f"{path}: expected a JSON array of objects or JSON Lines")
    try:
        values = json.loads(text)
    except json.JSONDecodeError as err:
        if head == "{" and err.msg == "Extra data":
            # A .json file holding one object per line is JSON Lines under another name.
            yield from _rows_from_jsonl(path)
            return
        raise _malformed(path, err.lineno, err) from None
    if head == "{":
        raise DataError(
            f"{path}: one JSON object, not a list of rows; write a JSON array of objects "
            "or one object per line (.jsonl)"
        )
    for n, value in enumerate(values, start=1):
        yield f"{path}: row {n}", n, _as_row(value, f"{path}: row {n}")


def _numbered(rows: Iterable[dict[str, Any]], where: str) -> Iterator[Row]:
    for n, row in enumerate(rows, start=1):
        yield f"{where}: row {n}", n, dict(row)


def _rows_from_parquet(path: Path) -> Iterator[Row]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as err:  # pyarrow raises several types; the user needs one line
        raise DataError(f"{path}: not a readable Parquet file ({_first_line(err)})") from None
    yield from _numbered(table.to_pylist(), str(path))


def _rows_from_saved_dataset(folder: Path) -> Iterator[Row]:
    splits_file = folder / "dataset_dict.json"
    if splits_file.is_file():
        try:
            splits = json.loads(splits_file.read_text(encoding="utf-8"))["splits"]
        except (json.JSONDecodeError, KeyError, TypeError):
            splits = ["<split>"]
        raise DataError(
            f"{folder}: a DatasetDict with splits {', '.join(map(str, splits))}; "
            f"pass one split's folder, e.g. data.path={folder / str(splits[0])}"
        )
    if not (folder / "state.json").is_file():
        raise DataError(
            f"{folder}: a folder, but not a `datasets` save_to_disk folder (no state.json); "
            f"pass one file: {_FORMATS}"
        )
    import datasets

    try:
        ds = datasets.load_from_disk(str(folder))
    except Exception as err:  # datasets raises many types; one line is what users need
        raise DataError(f"{folder}: cannot load the saved dataset ({_first_line(err)})") from None
    yield from _numbered(ds, str(folder))


def read_rows(path: Path) -> Iterator[Row]:
    """The rows of ``path`` in file order; the format follows the suffix (or the folder)."""
    if not path.exists():
        raise DataError(f"data file not found: {path}")
    if path.is_dir():
        return _rows_from_saved_dataset(path)
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return _rows_from_jsonl(path)
    if suffix == ".json":
        return _rows_from_json(path)
    if suffix == ".parquet":
        return _rows_from_parquet(path)
    raise DataError(
        f"{path}: unsupported file type {suffix or '(no suffix)'!r}; use {_FORMATS} "
        "(convert e.g. CSV with pandas: pd.read_csv(f).to_json('out.jsonl', orient='records', "
        "lines=True))"
    )
