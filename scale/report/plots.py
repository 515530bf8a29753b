"""The report's figures (matplotlib, PNG and PDF).

- ``accuracy_vs_tokens_<dataset>``: every method of every setting, accuracy (95% CI bars)
  against the paper's Tok and against all response tokens; a router sweep is a curve
  labelled with its tau / q values; the random control is a red cross.
- ``stage_cost_<dataset>``: response tokens and seconds per attempt by pipeline stage.
- ``s2_share_vs_tau``: share of steps on System 2 against the threshold (paper dashed).
- ``figure2_budget``: accuracy against System 2's token budget (the paper's Figure 2).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from scale.report import paper as paper_mod
from scale.report.cells import Cell, datasets_of
from scale.report.identity import SettingId
from scale.report.shapes import setting_labels, sweep_groups

_MARKERS = {"cot_s1": "v", "cot_s2": "^", "inftythink": "s", "majority": "D", "scale": "o",
            "fraction": "P", "random": "X", "all_s1": "<", "all_s2": ">", "other": "*"}
# One colour per method kind in every figure; red is the random control's alone.
_COLORS = {"cot_s1": "tab:cyan", "cot_s2": "tab:blue", "inftythink": "tab:purple", "majority": "tab:green",
           "scale": "black", "fraction": "tab:brown", "random": "tab:red", "all_s1": "tab:gray",
           "all_s2": "tab:olive", "other": "tab:pink"}
_STAGE_ORDER = ("split", "decompose", "select", "score", "solve", "summary", "judge")


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, out: Path, stem: str) -> list[Path]:
    paths = [out / f"{stem}.png", out / f"{stem}.pdf"]
    fig.savefig(paths[0], dpi=150, bbox_inches="tight")
    fig.savefig(paths[1], bbox_inches="tight")
    _plt().close(fig)
    return paths


def _acc_err(c: Cell) -> tuple[float, list[list[float]]]:
    acc = 100 * c.metrics.accuracy
    lo, hi = (100 * x for x in c.metrics.accuracy_ci95)
    return acc, [[max(0.0, acc - lo)], [max(0.0, hi - acc)]]


def _token_axis(ax) -> None:
    """Log scale with plain numbers (12,000 rather than 1.2x10^4); minor ticks unlabelled."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.set_xscale("log")
    ax.margins(x=0.12)  # room for the tau labels at the ends
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:,.0f}" if x >= 10 else f"{x:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())


def _accuracy_axis(ax) -> None:
    """At least a 10-point window, inside 0-100 %."""
    lo, hi = ax.get_ylim()
    if hi - lo < 10:
        mid = min(max((lo + hi) / 2, 3.0), 97.0)  # keep the window inside -2..102
        lo, hi = mid - 5, mid + 5
    ax.set_ylim(max(-2.0, lo), min(102.0, hi))


_AXES = (("tok_paper", "Tok: solving-call response tokens / problem"),
         ("tok_total", "all response tokens / problem (outlines, scoring incl.)"))


def _pair(setting: SettingId) -> tuple[str, str]:
    return (setting.s1_model, setting.s2_model)


def accuracy_vs_tokens(cells: list[Cell], out: Path, paper: bool = False, table1_tau: float = 0.5) -> list[Path]:
    """One figure per dataset; a row per model pair (its System 2 budgets share the row)."""
    plt = _plt()
    labels = setting_labels(cells)
    groups = sweep_groups(cells)
    swept = {id(c) for group in groups.values() for c in group}
    paths: list[Path] = []
    for dataset in datasets_of(cells):
        here = [c for c in cells if c.dataset == dataset]
        pairs = sorted({_pair(c.setting) for c in here}, key=lambda p: (p[1], p[0]))
        fig, axes = plt.subplots(len(pairs), 2, figsize=(12, 4.2 * len(pairs)), squeeze=False)
        for row, pair in enumerate(pairs):
            mine = [c for c in here if _pair(c.setting) == pair]
            ranks = sorted({c.setting.s2_max_tokens or 0 for c in mine})
            budgets = len(ranks) > 1
            # Lighter for smaller System 2 budgets, so one method's budget points tell apart.
            alpha = {b: 0.35 + 0.65 * i / max(1, len(ranks) - 1) for i, b in enumerate(ranks)}

            def suffix(c: Cell, budgets: bool = budgets) -> str:
                return f", S2 ≤ {c.setting.s2_max_tokens:,}" if budgets and c.setting.s2_max_tokens else ""

            for col, (key, xlabel) in enumerate(_AXES):
                ax = axes[row][col]
                for c in mine:
                    if id(c) in swept:
                        continue
                    acc, err = _acc_err(c)
                    ax.errorbar(getattr(c.metrics, key), acc, yerr=err, fmt=_MARKERS[c.method.kind],
                                ms=8 if c.method.kind == "random" else 7, capsize=3, color=_COLORS[c.method.kind],
                                alpha=alpha[c.setting.s2_max_tokens or 0],
                                label=c.method.label + suffix(c) + ("" if c.complete else " (incomplete)"))
                for (setting, kind, _detail), group in groups.items():
                    if _pair(setting) != pair:
                        continue
                    _sweep_curve(ax, [c for c in group if c.dataset == dataset], key, kind, suffix, paper,
                                 setting, dataset)
                if paper and key == "tok_paper":
                    for c in mine:
                        p = paper_mod.table1_cell(c.setting, c.method, dataset, table1_tau)
                        if p is not None:
                            ax.scatter(p.tok, p.acc, marker=_MARKERS[c.method.kind], facecolors="none",
                                       edgecolors=_COLORS[c.method.kind], s=70, label=f"{c.method.label} (paper)")
                _token_axis(ax)
                _accuracy_axis(ax)
                ax.set_xlabel(xlabel)
                ax.set_ylabel("accuracy, % (95% CI)")
                ax.set_title(f"{labels[mine[0].setting].split(', S2 ≤')[0]} — {dataset}")
                ax.grid(True, which="both", alpha=0.3)
            axes[row][1].legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=8, frameon=False)
        fig.suptitle(f"Accuracy vs tokens per problem, {dataset}", y=1.0)
        fig.tight_layout()
        paths += _save(fig, out, f"accuracy_vs_tokens_{dataset}")
    return paths


def _sweep_curve(ax, group: list[Cell], key: str, kind: str, suffix, paper: bool, setting: SettingId,
                 dataset: str) -> None:
    """A router sweep as one line, each point labelled with its tau / q."""
    if not group:
        return
    group = sorted(group, key=lambda c: c.method.param)
    xs = [getattr(c.metrics, key) for c in group]
    ys = [100 * c.metrics.accuracy for c in group]
    symbol = "τ" if kind == "scale" else "q"
    name = group[0].method.label.split(f" {symbol}=")[0] + suffix(group[0])
    ax.plot(xs, ys, "-", marker=_MARKERS[kind], color=_COLORS[kind], label=f"{name}, {symbol} sweep")
    at: dict[tuple[float, float], list[float]] = defaultdict(list)  # points that coincide share a label
    for c, x, y in zip(group, xs, ys):
        at[(x, y)].append(c.method.param)
    for (x, y), params in at.items():
        text = f"{params[0]:g}" if len(params) == 1 else f"{params[0]:g}–{params[-1]:g}"
        ax.annotate(f"{symbol}={text}", (x, y), textcoords="offset points", xytext=(4, 4),
                    fontsize=7, color=_COLORS[kind])
    if paper and kind == "scale" and key == "tok_paper":
        ref = [paper_mod.table2_cell(setting, c.method.param, dataset) for c in group]
        pts = [(p.tok, p.acc) for p in ref if p is not None]
        if pts:
            ax.plot(*zip(*pts), "--", color=_COLORS[kind], alpha=0.5, label=f"{name}, τ sweep (paper)")


def stage_costs(cells: list[Cell], out: Path) -> list[Path]:
    plt = _plt()
    labels = setting_labels(cells)
    paths: list[Path] = []
    for dataset in datasets_of(cells):
        here = [c for c in cells if c.dataset == dataset]
        stages = sorted({s for c in here for s in c.metrics.stage_response_tokens_per_attempt},
                        key=lambda s: (_STAGE_ORDER.index(s) if s in _STAGE_ORDER else 99, s))
        names = [f"{labels[c.setting]} · {c.method.label}" for c in here]
        fig, axes = plt.subplots(1, 2, figsize=(13, 0.45 * len(here) + 1.8), sharey=True)
        for ax, what, unit in ((axes[0], "tokens", "response tokens / attempt"),
                               (axes[1], "seconds", "seconds / attempt (summed over calls)")):
            left = [0.0] * len(here)
            for stage in stages:
                if what == "tokens":
                    vals = [c.metrics.stage_response_tokens_per_attempt.get(stage, 0.0) for c in here]
                else:
                    vals = [c.metrics.stage_seconds.get(stage, 0.0) / max(1, c.metrics.n_attempts) for c in here]
                ax.barh(range(len(here)), vals, left=left, label=stage)
                left = [a + b for a, b in zip(left, vals)]
            ax.set_xlabel(unit)
            ax.grid(True, axis="x", alpha=0.3)
        axes[0].set_yticks(range(len(here)), names, fontsize=8)
        axes[0].invert_yaxis()
        axes[1].legend(title="stage", loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=8, frameon=False)
        fig.suptitle(f"Cost per attempt by stage, {dataset}")
        fig.tight_layout()
        paths += _save(fig, out, f"stage_cost_{dataset}")
    return paths


def s2_share_vs_tau(cells: list[Cell], out: Path, paper: bool = False) -> list[Path]:
    groups = {k: v for k, v in sweep_groups(cells).items() if k[1] == "scale"}
    if not groups:
        return []
    plt = _plt()
    labels = setting_labels(cells)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for (setting, _kind, _detail), members in groups.items():
        by_data: dict[str, list[Cell]] = defaultdict(list)
        for c in members:
            by_data[c.dataset].append(c)
        for dataset, group in sorted(by_data.items()):
            group.sort(key=lambda c: c.method.param)
            taus = [c.method.param for c in group]
            line = ax.plot(taus, [100 * c.metrics.s2_fraction for c in group], "-o",
                           label=f"{labels[setting]}, {dataset}")[0]
            if paper:
                ref = [(t, paper_mod.table2_cell(setting, t, dataset)) for t in taus]
                pts = [(t, p.s2_percent) for t, p in ref if p is not None]
                if pts:
                    ax.plot(*zip(*pts), "--", color=line.get_color(), alpha=0.7,
                            label=f"{labels[setting]}, {dataset} (paper)")
    ax.set_xlabel("threshold τ (System 2 when score > τ)")
    ax.set_ylabel("steps on System 2, %")
    ax.set_ylim(-2, 102)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("Share of steps routed to System 2 vs τ")
    fig.tight_layout()
    return _save(fig, out, "s2_share_vs_tau")


def budget_sweep(cells: list[Cell], out: Path) -> list[Path]:
    """Accuracy against System 2's max new tokens, one line per (models, dataset, method)."""
    lines: dict[tuple, list[Cell]] = defaultdict(list)
    for c in cells:
        if c.setting.s2_max_tokens:
            lines[(c.setting.s1_model, c.setting.s2_model, c.dataset, c.method)].append(c)
    lines = {k: v for k, v in lines.items() if len({c.setting.s2_max_tokens for c in v}) >= 2}
    if not lines:
        return []
    plt = _plt()
    out.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for (_s1, _s2, dataset, method), group in lines.items():
        group.sort(key=lambda c: c.setting.s2_max_tokens)
        xs = [c.setting.s2_max_tokens for c in group]
        accs = [_acc_err(c) for c in group]
        ax.errorbar(xs, [a for a, _ in accs], yerr=[[e[0][0] for _, e in accs], [e[1][0] for _, e in accs]],
                    fmt="-o", capsize=3, label=f"{group[0].setting.label}, {method.label}, {dataset}")
    ax.set_xscale("log", base=2)
    ax.set_xticks(sorted({c.setting.s2_max_tokens for g in lines.values() for c in g}))
    ax.get_xaxis().set_major_formatter(_plt().FuncFormatter(lambda x, _: f"{x:,.0f}"))
    ax.set_xlabel("System 2 max new tokens")
    ax.set_ylabel("accuracy, % (95% CI)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("Accuracy vs System 2 token budget (Figure 2)")
    fig.tight_layout()
    return _save(fig, out, "figure2_budget")


def all_plots(cells: list[Cell], out: Path, paper: bool = False, table1_tau: float = 0.5) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    return [*accuracy_vs_tokens(cells, out, paper, table1_tau), *stage_costs(cells, out), *s2_share_vs_tau(cells, out, paper),
            *budget_sweep(cells, out)]
