"""The paper's own Tables 1-3 (``paper_tables.yaml`` in this package), matched to our cells.

A cell of ours has a paper counterpart when its S1/S2 models are those of a paper row
(``models``), its method is one the paper ran (CoT on System 2, InftyThink, MajVote,
SCALE with the threshold router) and the dataset is one of the paper's columns.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from scale.report.identity import MethodId, SettingId

PAPER_FILE = Path(__file__).with_name("paper_tables.yaml")


@dataclass(frozen=True)
class PaperCell:
    acc: float  # percent
    tok: float  # tokens per problem (Table 2/3: converted from thousands)
    tpi: float | None = None
    s2_percent: float | None = None  # Table 2: % of steps rated hard
    base_acc: float | None = None  # Table 3: before fine-tuning


@functools.cache
def paper_data() -> dict[str, Any]:
    return yaml.safe_load(PAPER_FILE.read_text(encoding="utf-8"))


def paper_model(setting: SettingId) -> str | None:
    """The paper row name whose S1/S2 models are this setting's (a fine-tuned one, with an
    adapter merged in, is not the paper's model)."""
    if getattr(setting, "adapter", None):
        return None
    for name, models in paper_data()["models"].items():
        if (models["s1"], models["s2"]) == (setting.s1_model, setting.s2_model):
            return name
    return None


def _is_papers_row(method: MethodId, kind: str, tau: float) -> bool:
    """Our method is the paper's Table 1 method ``kind``: the paper's SCALE row goes to the
    prompted threshold router at ``tau``, the threshold the user says Table 1 was run at (the
    paper states none: 0.5 is the authors' README default, its own numbers point to 0.2)."""
    if kind != method.kind:
        return False
    return kind != "scale" or (method.param is not None and abs(method.param - tau) < 1e-9
                               and method.detail in ("", "prompted"))


def table1_cell(setting: SettingId, method: MethodId, dataset: str, tau: float = 0.5) -> PaperCell | None:
    model = paper_model(setting)
    if model is None:
        return None
    for paper_method, kind in paper_data()["methods"].items():
        if not _is_papers_row(method, kind, tau):
            continue
        row = paper_data()["table1"].get(model, {}).get(paper_method, {})
        if dataset in row:
            acc, tok, tpi = row[dataset]
            return PaperCell(acc=acc, tok=tok, tpi=tpi)
    return None


def table1_avg(setting: SettingId, method: MethodId, tau: float = 0.5) -> float | None:
    model = paper_model(setting)
    for paper_method, kind in paper_data()["methods"].items():
        if model and _is_papers_row(method, kind, tau):
            return paper_data()["table1"].get(model, {}).get(paper_method, {}).get("avg")
    return None


def table2_cell(setting: SettingId, tau: float | None, dataset: str) -> PaperCell | None:
    model = paper_model(setting)
    rows = paper_data()["table2"].get(model, {}) if model else {}
    for key, row in rows.items():
        if tau is not None and abs(float(key) - tau) < 1e-9 and dataset in row:
            acc, tok_k, pct = row[dataset]
            return PaperCell(acc=acc, tok=tok_k * 1000, s2_percent=pct)
    return None


def table3_cell(base: SettingId, dataset: str) -> PaperCell | None:
    model = paper_model(base)
    row = paper_data()["table3"].get(model, {}) if model else {}
    if dataset not in row:
        return None
    base_acc, acc, tok_k = row[dataset]
    return PaperCell(acc=acc, tok=tok_k * 1000, base_acc=base_acc)
