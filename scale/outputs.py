"""Output paths checked before anything is loaded, by every entry point that writes a folder
(``scale-eval run_dir=``, ``scale-report --out``, ``train_difficulty.py`` and
``sft_on_traces.py output_dir=``, ``build_traces.py --out``): a mistake costs one line, not a
model load and a traceback."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from scale.errors import ConfigError


def check_output_dir(path: str | Path, what: str) -> Path:
    """``path`` can be (or already is) a folder: neither it nor a folder above it is a file."""
    path = Path(path)
    for p in (path, *path.parents):
        if p.exists():
            if not p.is_dir():
                where = "is a file" if p == path else f"is inside {p}, which is a file"
                raise ConfigError(f"{what}={path}: {where}, not a folder")
            break
    return path


def check_not_inside(out: str | Path, folders: Iterable[str | Path], what: str, of: str,
                     above_too: bool = False) -> None:
    """``out`` is none of ``folders`` and inside none of them (a report must not write into
    the run dirs it reads: their own report.md would be replaced); with ``above_too``, holds
    none of them either (an output folder that is replaced whole)."""
    target = Path(out).resolve()
    for folder in folders:
        inner = Path(folder).resolve()
        if target == inner or inner in target.parents:
            raise ConfigError(f"{what} {out}: is {'' if target == inner else 'inside '}{of} {folder}; "
                              "choose a folder outside the run dirs")
        if above_too and target in inner.parents:
            raise ConfigError(f"{what} {out}: holds {of} {folder}; choose a folder outside the run dirs")


def distinct_folders(paths: Iterable[str | Path]) -> tuple[list[Path], list[Path]]:
    """``paths`` once each, in order (``runs/a`` and ``./runs/a/`` are one folder), and those
    given more than once."""
    seen: dict[Path, Path] = {}
    repeated: list[Path] = []
    for p in map(Path, paths):
        key = p.resolve()
        if key in seen:
            repeated.append(p)
        else:
            seen[key] = p
    return list(seen.values()), repeated
