"""What a run directory holds, as typed records with a schema version.

``Record``: one finished attempt (one line of ``records.jsonl``). ``Metrics``: the run's
figures (``metrics.json``). Both carry ``schema_version``; reading a file written under
another version fails with one line naming the file and the version. Field by field
documentation: ``docs/run_dir.md``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from scale.build import check_kwargs
from scale.errors import DataError

SCHEMA_VERSION = 2  # 1: records before the run-dir contract (no schema_version field)


def _check_version(raw: Mapping[str, Any], where: str) -> None:
    version = raw.get("schema_version", 1)
    if version != SCHEMA_VERSION:
        raise DataError(
            f"{where}: schema version {version!r}, but this code reads version {SCHEMA_VERSION} "
            "(rerun the evaluation with this version of scale, or use the version that wrote it)"
        )


def _as_plain(obj: Any) -> Any:
    """A dataclass nested in a record (as asdict converts it); anything else json cannot write."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


def _from_dict(cls: type, raw: Any, where: str) -> Any:
    if not isinstance(raw, Mapping):
        raise DataError(f"{where}: expected a JSON object, got {type(raw).__name__}")
    _check_version(raw, where)
    try:
        return cls(**check_kwargs(cls, raw, where))
    except Exception as err:  # ConfigError from the checks: the file, not the config, is at fault
        raise DataError(str(err)) from None


@dataclass
class Record:
    """One finished attempt of one problem (``problem_id``, ``sample_idx``) is unique in a run."""

    problem_id: str
    sample_idx: int
    method: str
    question: str
    gold: str
    answer: str | None
    correct: bool
    grade_reason: str
    response: str = ""
    failures: list[str] = field(default_factory=list)
    trace: dict[str, Any] = field(default_factory=dict)
    ledger: list[dict[str, Any]] = field(default_factory=list)
    cost: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    error: dict[str, str] | None = None  # {"kind", "message"} when the attempt failed
    schema_version: int = SCHEMA_VERSION

    @property
    def key(self) -> tuple[str, int]:
        return self.problem_id, self.sample_idx

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        """This record as one line of ``records.jsonl``: the text of ``json.dumps(to_dict())``,
        without asdict's deep copy of every nested list and dict (a third of a millisecond per
        record, twice per record in a run)."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return json.dumps(values, ensure_ascii=False, default=_as_plain)

    @classmethod
    def from_dict(cls, raw: Any, where: str) -> Record:
        return _from_dict(cls, raw, where)


@dataclass
class Metrics:
    """A run's figures; every mean is per attempt unless named otherwise."""

    n_problems: int
    n_attempts: int
    expected_attempts: int | None
    complete: bool
    accuracy: float  # pass@1 averaged over samples, then over problems; errors count as wrong
    accuracy_ci95: list[float]
    accuracy_completed: float  # the same over attempts that finished without an error
    n_errors: int
    errors: dict[str, int]
    tok_paper: float
    tok_total: float
    prompt_tokens: float
    reasoning_tokens: float
    seconds: float
    tpi: float
    steps_per_attempt: float
    s2_fraction: float
    failures: dict[str, int]
    stage_seconds: dict[str, float]
    stage_response_tokens_per_attempt: dict[str, float]
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, raw: Any, where: str) -> Metrics:
        return _from_dict(cls, raw, where)
