"""The label of a user's data file: its name, the prefix of its problems' ids."""

from __future__ import annotations

from pathlib import Path

__all__ = ["data_label"]


def data_label(path: str | Path) -> str:
    """``../shared/data/math500.jsonl`` -> ``math500``; a folder keeps its whole name."""
    p = Path(str(path)).expanduser()
    return p.name if p.is_dir() else p.stem
