"""records.jsonl: one flushed JSON line per finished attempt; tolerant reading; shard merge."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from scale.errors import DataError

log = logging.getLogger(__name__)

RECORDS = "records.jsonl"


def key_of(record: dict[str, Any]) -> tuple[str, int]:
    return str(record["problem_id"]), int(record["sample_idx"])


def shard_file(run_dir: Path, rank: int, world: int) -> Path:
    return run_dir / (RECORDS if world == 1 else f"records.shard{rank:04d}-of-{world:04d}.jsonl")


def read_records(path: Path) -> list[dict[str, Any]]:
    """Records in ``path``; a torn last line (the process was killed mid-write) is dropped."""
    if not path.is_file():
        return []
    out: list[dict[str, Any]] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            key_of(rec)
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            if i == len(lines):
                log.warning("%s:%d: dropping a torn last line (interrupted write)", path, i)
                continue
            raise DataError(f"{path}:{i}: corrupt record line (not JSON with problem_id and sample_idx)") from None
        out.append(rec)
    return out


class RecordWriter:
    """Append-only writer; every record is flushed and fsynced before the next one."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._repair_tail()
        self._fh = path.open("a", encoding="utf-8")

    def _repair_tail(self) -> None:
        # Drop a torn last line so the next append starts on a clean line.
        if not self.path.is_file():
            return
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            cut = data.rfind(b"\n") + 1
            with self.path.open("r+b") as fh:
                fh.truncate(cut)

    def write(self, record: dict[str, Any]) -> None:
        self._fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        self._fh.close()


def merge_shards(run_dir: Path) -> Path:
    """Join every shard file (and any existing records.jsonl) into records.jsonl, one line per key."""
    target = run_dir / RECORDS
    seen: dict[tuple[str, int], dict[str, Any]] = {}
    sources = [target, *sorted(run_dir.glob("records.shard*-of-*.jsonl"))]
    for src in sources:
        for rec in read_records(src):
            seen.setdefault(key_of(rec), rec)
    tmp = target.with_suffix(".jsonl.tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for key in sorted(seen):
            fh.write(json.dumps(seen[key], ensure_ascii=False) + "\n")
    os.replace(tmp, target)
    return target
