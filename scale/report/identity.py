"""What a run computed, read from its resolved config: method, setting (systems), dataset.

A run's table cell is (setting, dataset, method). The method label follows the paper's
names (CoT, InftyThink, MajVote, SCALE) plus this project's routers; the setting is the
System 1 / System 2 model pair and System 2's token budget (Figure 2 varies it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from scale.errors import DataError

# Table order of method kinds (then by router parameter).
KIND_ORDER = ("cot_s1", "cot_s2", "inftythink", "majority", "scale", "fraction", "random", "all_s1",
              "all_s2", "other")


@dataclass(frozen=True)
class MethodId:
    """A method as the tables name it; ``param`` is the router's tau, q or fraction."""

    kind: str  # one of KIND_ORDER
    param: float | None = None
    detail: str = ""  # scorer name (SCALE), k (MajVote), a method's own name (other)

    @property
    def order(self) -> tuple:
        return (KIND_ORDER.index(self.kind), self.detail, -1.0 if self.param is None else self.param)

    @property
    def label(self) -> str:
        base = {
            "cot_s1": "CoT (S1)", "cot_s2": "CoT (S2)", "inftythink": "InftyThink",
            "majority": f"MajVote@{self.detail}" if self.detail else "MajVote",
            "scale": "SCALE", "fraction": "SCALE, hardest fraction", "random": "random control",
            "all_s1": "SCALE, all S1", "all_s2": "SCALE, all S2", "other": self.detail,
        }[self.kind]
        if self.kind in ("scale", "fraction", "all_s1", "all_s2") and self.detail not in ("", "prompted"):
            base += f" [{self.detail}]"
        if self.kind == "random" and self.detail == "matched":
            base += " (matched)"
        symbol = {"scale": "τ", "fraction": "q", "random": "f"}.get(self.kind)
        if symbol and self.param is not None:
            base += f" {symbol}={self.param:g}"
        return base

    @property
    def probe(self) -> bool:
        """A probe run (``method.probe=true``): its answers come from the all-System-2 path."""
        return self.detail == "probe" or self.detail.endswith(", probe")

    @property
    def is_scale(self) -> bool:
        """Difficulty-routed SCALE (the method under test, not a control or a uniform extreme)."""
        return self.kind in ("scale", "fraction") and not self.probe

    @property
    def is_baseline(self) -> bool:
        return self.kind in ("cot_s1", "cot_s2", "inftythink", "majority", "all_s1", "all_s2", "other")


@dataclass(frozen=True)
class SettingId:
    """The systems a run used: models, and System 2's output budget."""

    s1_model: str
    s2_model: str
    s2_max_tokens: int | None = None
    adapter: str | None = None  # a LoRA merged in at load (engine adapter): a tuned model is its own setting

    @property
    def label(self) -> str:
        s2 = model_label(self.s2_model) + (f" + {model_label(self.adapter)}" if self.adapter else "")
        return s2 if self.s1_model == self.s2_model else f"{s2} (S1 {model_label(self.s1_model)})"


@dataclass(frozen=True)
class RunIdentity:
    setting: SettingId
    dataset: str
    method: MethodId
    n_samples: int

    @property
    def cell(self) -> tuple[SettingId, str, MethodId]:
        return (self.setting, self.dataset, self.method)


def model_label(model: str) -> str:
    """``Qwen/Qwen3-32B`` -> ``Qwen3-32B``; a local folder -> its last part."""
    return model.rstrip("/").rsplit("/", 1)[-1]


def _node(cfg: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    node = cfg.get(key)
    if not isinstance(node, dict):
        raise DataError(f"{where}: config.json has no {key!r} node")
    return node


def method_id(cfg: dict[str, Any], where: str) -> MethodId:
    """The method of a resolved config (a random control matched to a SCALE run is
    ``random (matched)``: its share comes from that run)."""
    method = _node(cfg, "method", where)
    target = str(method.get("_target_", ""))
    name = str(method.get("name", ""))
    if target.endswith(".CoT") or name == "cot":
        return MethodId("cot_s2" if method.get("system", "s2") == "s2" else "cot_s1")
    if target.endswith(".Majority") or name == "majority":
        return MethodId("majority", detail=str(method.get("k", "")))
    if target.endswith(".InftyThink") or name == "inftythink":
        return MethodId("inftythink")
    if not (target.endswith(".Scale") or name == "scale"):
        return MethodId("other", detail=name or target)
    router = method.get("router") if isinstance(method.get("router"), dict) else cfg.get("router") or {}
    scorer = method.get("difficulty") if isinstance(method.get("difficulty"), dict) else cfg.get("difficulty") or {}
    detail = str(scorer.get("name", ""))
    if method.get("probe"):  # tagged (its own cell): its answers are not routed ones
        detail = "probe" if detail in ("", "prompted") else f"{detail}, probe"
    kind = str(router.get("name", "threshold"))
    if kind == "threshold":
        return MethodId("scale", _float(router.get("tau", 0.5)), detail)
    if kind == "fraction":
        return MethodId("fraction", _float(router.get("q")), detail)
    if kind == "random":  # the scorer plays no part in which steps it picks
        if router.get("match_run"):
            return MethodId("random", None, "matched")
        return MethodId("random", _float(router.get("fraction")))
    if kind in ("all_s1", "all_s2"):
        return MethodId(kind, None, detail)
    return MethodId("other", None, f"SCALE/{kind}")


def _float(value: Any) -> float | None:
    return None if value is None else round(float(value), 6)


def setting_id(cfg: dict[str, Any], where: str) -> SettingId:
    systems = _node(cfg, "systems", where)
    engines = systems.get("engines") or {}

    def engine(mode: str) -> dict[str, Any]:
        return engines.get((systems.get(mode) or {}).get("engine")) or {}

    def model(mode: str) -> str:
        return str(engine(mode).get("model") or "?")

    s2 = systems.get("s2") or {}
    budget = (s2.get("sampling") or {}).get("max_new_tokens")
    adapter = engine("s2").get("adapter") or engine("s1").get("adapter") or (cfg.get("engine") or {}).get("adapter")
    return SettingId(model("s1"), model("s2"), int(budget) if budget is not None else None,
                     str(adapter) if adapter else None)


def identify(cfg: dict[str, Any], where: str) -> RunIdentity:
    data = _node(cfg, "data", where)
    return RunIdentity(
        setting=setting_id(cfg, where),
        dataset=str(data.get("name", "?")),
        method=method_id(cfg, where),
        n_samples=int(cfg.get("n_samples", 1)),
    )
