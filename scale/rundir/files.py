"""Reading and writing a run directory (layout in ``docs/run_dir.md``).

``records.jsonl`` is append-only, one flushed line per finished attempt (fsynced at least once a
second); shards of a
multi-process or Slurm-array run write ``records.shardRRRR-of-WWWW.jsonl`` until
``scale-finalize`` merges them. Every reader goes through :class:`RunDir`.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from scale.errors import DataError
from scale.rundir.schema import Metrics, Record

log = logging.getLogger(__name__)

RECORDS = "records.jsonl"
SHARD_GLOB = "records.shard*-of-*.jsonl"


def is_torn(line: bytes) -> bool:
    """The torn-line rule shared by the reader and the writer (``docs/run_dir.md``).

    A record is one write of ``json + "\\n"``; a process killed mid-write leaves the
    file's last non-blank line as a prefix of that, which is not JSON (an object's closing
    brace comes last), with or without a newline after it (a rerun may have added one).
    Only the last non-blank line can be torn; a line elsewhere that is not JSON is corrupt.
    """
    try:
        json.loads(line)
    except ValueError:  # JSONDecodeError, or bytes cut inside a UTF-8 character
        return True
    return False


def read_records(path: Path) -> list[Record]:
    """Records in ``path``; a torn last line (:func:`is_torn`) is dropped with a warning."""
    if not path.is_file():
        return []
    lines = path.read_bytes().split(b"\n")
    last = max((i for i, line in enumerate(lines, start=1) if line.strip()), default=0)
    out: list[Record] = []
    for i, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if is_torn(line):
            if i == last:
                log.warning("%s:%d: dropping a torn last line (interrupted write; a rerun removes it)", path, i)
                continue
            raise DataError(f"{path}:{i}: corrupt record line (not JSON)")
        out.append(Record.from_dict(json.loads(line), f"{path}:{i}"))
    return out


def write_json(path: Path, data: Any) -> None:
    """Write atomically (temp file + rename): a reader never sees half a file."""
    # Per host and process: array tasks on a shared filesystem may race.
    tmp = path.with_name(f".{path.name}.{socket.gethostname()}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _last_line(fh: BinaryIO) -> tuple[int, bytes]:
    """Offset and bytes (newline and any blank lines after it included) of the last
    non-blank line of ``fh``; reads back from the end (records can be long, files large)."""
    end = fh.seek(0, os.SEEK_END)
    tail = b""
    pos = end
    while pos > 0:
        step = min(65536, pos)
        pos -= step
        fh.seek(pos)
        tail = fh.read(step) + tail
        body = tail.rstrip()
        cut = body.rfind(b"\n")
        if cut != -1 or (pos == 0 and body):
            return pos + cut + 1, tail[cut + 1:]
    return 0, tail


SYNC_EVERY_S = 1.0  # fsync a records file at most this often while it is written (and at close)


class RecordWriter:
    """Append-only writer. Every record is written and flushed to the OS as it finishes, so a
    killed process loses none; the file is fsynced at most once per ``sync_every_s`` and at
    close, so a crash of the machine itself loses at most the last second's records (a rerun
    redoes them). One fsync per record blocked the event loop for milliseconds each: with
    hundreds of attempts in flight that starved the server of requests."""

    def __init__(self, path: Path, sync_every_s: float = SYNC_EVERY_S) -> None:
        self.path = path
        self.sync_every_s = sync_every_s
        self._synced = time.monotonic()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._repair_tail()
        self._fh = path.open("a", encoding="utf-8")

    def _repair_tail(self) -> None:
        # The reader's rule (is_torn): a torn last line is cut off, so the next append starts
        # a clean line; an intact last line missing its newline gets one.
        if not self.path.is_file():
            return
        with self.path.open("r+b") as fh:
            start, line = _last_line(fh)
            if line.strip() and is_torn(line):
                log.warning("%s: removing a torn last line (interrupted write)", self.path)
                fh.truncate(start)
            elif line.strip() and not line.endswith(b"\n"):
                fh.seek(0, os.SEEK_END)
                fh.write(b"\n")

    def write(self, record: Record) -> None:
        self._fh.write(record.to_json() + "\n")
        self._fh.flush()
        if time.monotonic() - self._synced >= self.sync_every_s:
            self.sync()

    def sync(self) -> None:
        os.fsync(self._fh.fileno())
        self._synced = time.monotonic()

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.flush()
            self.sync()
        self._fh.close()

    def __enter__(self) -> RecordWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class Collected:
    """Every record of a run dir, one per key, and what did not fit."""

    records: dict[tuple[str, int], Record] = field(default_factory=dict)
    conflicts: list[tuple[str, int]] = field(default_factory=list)  # same key, different content

    def in_key_order(self) -> list[Record]:
        """The records sorted by (problem_id, sample_idx), as a merged records.jsonl holds them."""
        return [self.records[k] for k in sorted(self.records)]


class RunDir:
    """Paths and readers of one run directory."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    config = property(lambda self: self.path / "config.json")
    env = property(lambda self: self.path / "env.json")
    records = property(lambda self: self.path / RECORDS)
    metrics = property(lambda self: self.path / "metrics.json")
    report = property(lambda self: self.path / "report.md")

    def shard_file(self, rank: int, world: int) -> Path:
        return self.records if world == 1 else self.path / f"records.shard{rank:04d}-of-{world:04d}.jsonl"

    def shard_files(self) -> list[Path]:
        return sorted(self.path.glob(SHARD_GLOB))

    def done_marker(self, rank: int, world: int) -> Path:
        return self.path / f".shard{rank:04d}-of-{world:04d}.done"

    def done_markers(self, world: int | None = None) -> list[Path]:
        pattern = ".shard*-of-*.done" if world is None else f".shard*-of-{world:04d}.done"
        return sorted(self.path.glob(pattern))

    # -- config ---------------------------------------------------------------------
    def read_config(self) -> dict[str, Any]:
        if not self.config.is_file():
            raise DataError(f"{self.path}: not a run directory (no config.json)")
        try:
            return json.loads(self.config.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise DataError(f"{self.config}: malformed JSON ({err.msg} at line {err.lineno})") from None

    def write_config(self, cfg: dict[str, Any]) -> None:
        from scale.secrets import redact  # a key set in a config never reaches the file

        write_json(self.config, redact(cfg))

    # -- records --------------------------------------------------------------------
    def collect(self) -> Collected:
        """Records from records.jsonl and every shard file, one per (problem, sample).

        The same attempt in two files with the same content (a merge interrupted before
        its shard files were removed) counts once; a successful record supersedes an error
        record of the same attempt (``retry_errors=true``); other differences are conflicts.
        """
        out = Collected()
        for src in [self.records, *self.shard_files()]:
            if not src.is_file():
                continue
            for rec in read_records(src):
                old = out.records.get(rec.key)
                if old is None or old.error is not None:
                    out.records[rec.key] = rec  # a retry, or a later failure, supersedes an error record
                elif rec.error is None and old != rec:  # (an error record never supersedes a success)
                    out.conflicts.append(rec.key)
        return out

    def write_merged(self, records: Iterable[Record]) -> None:
        """Replace records.jsonl by ``records`` (sorted by key), then drop the shard files."""
        tmp = self.path / f".{RECORDS}.tmp"
        with tmp.open("w", encoding="utf-8") as fh:
            for rec in sorted(records, key=lambda r: r.key):
                fh.write(rec.to_json() + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.records)
        for shard in self.shard_files():
            shard.unlink()
        for marker in self.done_markers():
            marker.unlink()

    # -- metrics --------------------------------------------------------------------
    def write_metrics(self, metrics: Metrics) -> None:
        write_json(self.metrics, metrics.to_dict())

    def read_metrics(self) -> Metrics:
        if not self.metrics.is_file():
            raise DataError(f"{self.path}: no metrics.json (run scale-finalize {self.path})")
        try:
            raw = json.loads(self.metrics.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise DataError(f"{self.metrics}: malformed JSON ({err.msg} at line {err.lineno})") from None
        return Metrics.from_dict(raw, str(self.metrics))
