"""OmegaConf resolvers the shipped configs use; registered when ``scale`` is imported."""

from __future__ import annotations

from omegaconf import OmegaConf


def run_label(name: str, path: str | None) -> str:
    """The data part of a run's name: the file's label when ``data.path`` is set, else ``data.name``."""
    if not path:
        return name
    from scale.data.label import data_label  # imported here: configs compose without loading data

    return data_label(path)


def register() -> None:
    OmegaConf.register_new_resolver("scale.run_label", run_label, replace=True)
