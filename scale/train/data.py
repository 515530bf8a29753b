"""Labelled step traces (a ``datasets`` folder from ``scripts/build_traces.py``) -> token rows.

Checked on load, each failure one line (:class:`TracesError`): the folder exists and is a
saved ``DatasetDict`` with ``train`` and ``validation`` splits, no split is empty, the
columns are there, labels are 0/1, and the training split holds both labels.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scale.errors import DataError
from scale.train.template import StepInput, Template

COLUMNS = ("problem", "previous_steps", "previous_answers", "step", "label")
META = "scale_traces.json"  # written beside the dataset by build_traces: label definition, sources
REQUIRED_SPLITS = ("train", "validation")


class TracesError(DataError):
    """A traces folder is missing, malformed or cannot train a classifier."""


@dataclass
class Split:
    name: str
    inputs: list[StepInput]
    labels: list[int]

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def counts(self) -> tuple[int, int]:
        hard = sum(self.labels)
        return len(self.labels) - hard, hard


@dataclass
class Traces:
    path: Path
    splits: dict[str, Split]
    meta: dict[str, Any]
    dataset: Any = None  # the loaded DatasetDict, every column (memory-mapped)


def _step_input(row: dict[str, Any]) -> StepInput:
    return StepInput(str(row["problem"]), tuple(str(s) for s in row["previous_steps"]), str(row["step"]),
                     tuple(str(a or "") for a in row["previous_answers"]))


def _saved_splits(index: Path) -> list[str]:
    """The split names a dataset_dict.json lists (none when it is unreadable: loading says why)."""
    try:
        raw = json.loads(index.read_text())
    except json.JSONDecodeError:
        return []
    return list(raw.get("splits", [])) if isinstance(raw, dict) else []


def load_traces(path: str | Path, splits: Sequence[str] = REQUIRED_SPLITS,
                optional: Sequence[str] = ()) -> Traces:
    """The splits of a traces folder as step inputs and 0/1 labels (see the module docstring);
    ``optional`` splits are loaded too (and checked alike) when the folder has them."""
    import datasets

    folder = Path(path)
    if not folder.is_dir():
        raise TracesError(f"traces {folder}: no such folder (make one with scripts/build_traces.py)")
    index = folder / "dataset_dict.json"
    if not index.is_file():
        raise TracesError(f"traces {folder}: not a saved DatasetDict (no dataset_dict.json; "
                          "scripts/build_traces.py writes one)")
    if optional:
        saved = _saved_splits(index)
        splits = [*splits, *(name for name in optional if name in saved and name not in splits)]
    for name in splits:  # datasets cannot even load a split saved with no rows: look first
        state = folder / name / "state.json"
        if state.is_file() and not json.loads(state.read_text()).get("_data_files"):
            raise TracesError(f"traces {folder}: split {name!r} is empty (more problems, or other "
                              "--val-fraction/--test-fraction in scripts/build_traces.py)")
    try:
        dd = datasets.load_from_disk(str(folder))
    except (OSError, ValueError, IndexError) as err:
        raise TracesError(f"traces {folder}: cannot be read ({str(err).splitlines()[0][:200]})") from None
    meta_path = folder / META
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    out: dict[str, Split] = {}
    for name in splits:
        if name not in dd:
            raise TracesError(f"traces {folder}: no {name!r} split (it has {sorted(dd)})")
        ds = dd[name]
        missing = [c for c in COLUMNS if c not in ds.column_names]
        if missing:
            raise TracesError(f"traces {folder}: split {name!r} lacks column(s) {missing}")
        if len(ds) == 0:
            raise TracesError(f"traces {folder}: split {name!r} is empty (more problems, or other "
                              "--val-fraction/--test-fraction in scripts/build_traces.py)")
        rows = ds.to_list()
        labels = []
        for i, row in enumerate(rows):
            if row["label"] not in (0, 1):
                raise TracesError(f"traces {folder}: split {name!r} row {i}: label must be 0 or 1, "
                                  f"got {row['label']!r}")
            labels.append(int(row["label"]))
        out[name] = Split(name, [_step_input(r) for r in rows], labels)
    if "train" in out:
        easy, hard = out["train"].counts
        if not easy or not hard:
            raise TracesError(f"traces {folder}: the train split has only one label ({easy} easy, {hard} "
                              "hard); a classifier needs both")
    return Traces(folder, out, meta, dd)


class TokenRows:
    """A torch-style dataset of ``{"input_ids", "labels"}`` (kept in memory: nothing is
    written next to the traces, which every rank reads)."""

    def __init__(self, split: Split, template: Template, tokenizer: Any) -> None:
        self.ids = template.encode_many(tokenizer, split.inputs)
        self.labels = list(split.labels)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {"input_ids": self.ids[i], "labels": self.labels[i]}


class RightPadCollator:
    def __init__(self, pad_id: int) -> None:
        self.pad_id = pad_id

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        from scale.train.model import pad_batch

        ids, mask = pad_batch([f["input_ids"] for f in features], self.pad_id)
        return {"input_ids": ids, "attention_mask": mask,
                "labels": torch.tensor([f["labels"] for f in features], dtype=torch.long)}
