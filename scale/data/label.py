"""The label of a data source: the registered name, or a user file's own name.

``configs/data/*.yaml`` set ``name: ${scale_data_label:${.path},<set>}`` so that
``data.path=../shared/data/math500.jsonl`` names the run (``${data.name}`` in ``eval.yaml``)
and the problem ids after the file (``math500``) instead of the default set (``demo``).
The resolver is registered when ``scale.data`` is imported, which every entry point does
before Hydra resolves a config.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["RESOLVER", "data_label", "register_resolver"]

RESOLVER = "scale_data_label"


def data_label(path: str | Path) -> str:
    """``../shared/data/math500.jsonl`` -> ``math500``; a folder keeps its whole name."""
    p = Path(str(path)).expanduser()
    return p.name if p.is_dir() else p.stem


def _label_or_name(path: object, name: str) -> str:
    return name if path is None or str(path).strip() == "" else data_label(str(path))


def register_resolver() -> None:
    """Make ``${scale_data_label:PATH,NAME}`` available to OmegaConf (idempotent)."""
    from omegaconf import OmegaConf

    if not OmegaConf.has_resolver(RESOLVER):
        OmegaConf.register_new_resolver(RESOLVER, _label_or_name)
