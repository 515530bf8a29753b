"""The paper's table shapes filled from our cells (and, with ``paper=True``, theirs beside).

- Table 1: Acc (95% CI) / Tok [Tpi] per method x dataset, plus the mean accuracy.
- Table 2: a router sweep (threshold tau, or fraction q): Acc / Tok / % of steps on System 2.
- Table 3: base -> tuned accuracy, tuned Tok, for the pairs given.
- Comparisons: paired differences with CI and p-value, and the token ratios.
Incomplete cells say ``n of N attempts`` in the cell itself.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

import numpy as np

from scale.report import paper as paper_mod
from scale.report.cells import Cell, datasets_of
from scale.report.identity import MethodId, SettingId
from scale.report.stats import Comparison, compare
from scale.report.tables import Row, Table, ci, pct, tokens

_TPI_KINDS = ("scale", "fraction", "random", "all_s1", "all_s2", "inftythink")


def setting_labels(cells: list[Cell]) -> dict[SettingId, str]:
    """Model label, plus System 2's budget where one model pair runs at several budgets."""
    budgets: dict[tuple[str, str], set] = defaultdict(set)
    for c in cells:
        budgets[(c.setting.s1_model, c.setting.s2_model)].add(c.setting.s2_max_tokens)
    out = {}
    for c in cells:
        label = c.setting.label
        if len(budgets[(c.setting.s1_model, c.setting.s2_model)]) > 1:
            label += f", S2 ≤ {c.setting.s2_max_tokens:,} tok" if c.setting.s2_max_tokens else ""
        out[c.setting] = label
    return out


def _note(cell: Cell) -> str:
    return f" [{cell.attempts_note}]" if cell.attempts_note else ""


def _shown(by_data: dict[str, Any], datasets: list[str], fmt: Callable[[Any], str]) -> list[str]:
    """One display cell per dataset: ``fmt`` of the row's entry, "–" where it has none."""
    return ["–" if d not in by_data else fmt(by_data[d]) for d in datasets]


def _paper_row(ref: list[paper_mod.PaperCell | None], fmt: Callable[[paper_mod.PaperCell], str], group: str,
               extra: tuple[str, ...] = ()) -> Row:
    """The paper's numbers under our row ("–" where the paper has none)."""
    return Row(["", "paper", *["–" if p is None else fmt(p) for p in ref], *extra], paper=True, group=group)


def _base_record(cell: Cell, labels: dict[SettingId, str]) -> dict:
    m = cell.metrics
    return {
        "setting": labels[cell.setting], "s1_model": cell.setting.s1_model,
        "s2_model": cell.setting.s2_model, "s2_max_new_tokens": cell.setting.s2_max_tokens,
        "method": cell.method.label, "router_param": cell.method.param, "dataset": cell.dataset,
        "accuracy": m.accuracy, "accuracy_ci95_lo": m.accuracy_ci95[0], "accuracy_ci95_hi": m.accuracy_ci95[1],
        "tok_paper": m.tok_paper, "tpi": m.tpi, "tok_total": m.tok_total, "prompt_tokens": m.prompt_tokens,
        "s2_fraction": m.s2_fraction, "n_problems": m.n_problems, "n_attempts": m.n_attempts,
        "expected_attempts": m.expected_attempts, "complete": cell.complete, "runs": cell.paths,
    }


def table1_methods(cells: list[Cell], table1_tau: float) -> list[Cell]:
    """Table 1 holds every method, SCALE's threshold router at ``table1_tau`` only (the
    other taus are Table 2's rows) or at its scorer's own threshold (tau null: the classifier)."""
    return [c for c in cells if not (c.method.kind == "scale" and c.method.param not in (table1_tau, None))]


def _table1_text(c: Cell) -> str:
    m = c.metrics
    tpi = f" [{tokens(m.tpi)}]" if c.method.kind in _TPI_KINDS else ""
    return f"{pct(m.accuracy)} {ci(m.accuracy_ci95)} / {tokens(m.tok_paper)}{tpi}{_note(c)}"


def _controls_beside_scale(rows: dict[tuple[SettingId, MethodId], dict[str, Cell]]
                           ) -> dict[tuple[SettingId, MethodId], dict[str, Cell]]:
    """The rows in order, each setting's random controls moved right after its (first) SCALE row."""
    scale_settings = {k[0] for k in rows if k[1].kind == "scale"}
    out: dict[tuple[SettingId, MethodId], dict[str, Cell]] = {}
    for key, by_data in rows.items():
        if key[1].kind == "random" and key[0] in scale_settings:
            continue  # placed after its SCALE row
        out[key] = by_data
        if key[1].kind == "scale" and not any(k[0] == key[0] and k[1].kind == "scale" for k in out if k != key):
            out.update({k: v for k, v in rows.items() if k[0] == key[0] and k[1].kind == "random"})
    return out


def _random_difference(scale: dict[str, Cell], control: dict[str, Cell], datasets: list[str], label: str,
                       records: dict[str, dict]) -> Row:
    """SCALE minus its random control per dataset: paired difference on the same problems, CI, S2 shares."""
    comps = {d: compare(scale[d], control[d]) for d in datasets if d in scale and d in control}

    def text(comp: Comparison) -> str:
        lo, hi = comp.ci95
        return (f"{100 * comp.diff:+.2f} ({100 * lo:+.1f}, {100 * hi:+.1f}); S2 "
                f"{100 * comp.a.metrics.s2_fraction:.0f}% / {100 * comp.b.metrics.s2_fraction:.0f}%")

    for d, comp in comps.items():
        if d in records:
            records[d].update(random_diff=comp.diff, random_diff_ci95_lo=comp.ci95[0],
                              random_diff_ci95_hi=comp.ci95[1], random_p_value=comp.p_value,
                              random_s2_fraction=comp.b.metrics.s2_fraction, random_runs=comp.b.paths)
    avg = f"{100 * float(np.mean([c.diff for c in comps.values()])):+.2f}" if comps else "–"
    return Row([label, "SCALE − random (Δ pp, 95% CI)", *_shown(comps, datasets, text), avg], group=label)


def table1(cells: list[Cell], paper: bool = False, table1_tau: float = 0.5) -> Table:
    cells = table1_methods(cells, table1_tau)
    datasets = datasets_of(cells)
    labels = setting_labels(cells)
    table = Table("table1", "Table 1: accuracy % (95% CI) / Tok [Tpi] per problem",
                  ["Model", "Method", *datasets, "Avg"])
    rows: dict[tuple[SettingId, MethodId], dict[str, Cell]] = {}
    for c in cells:
        rows.setdefault((c.setting, c.method), {})[c.dataset] = c
    records_of: dict[tuple[SettingId, MethodId], dict[str, dict]] = {}
    for (setting, method), by_data in _controls_beside_scale(rows).items():
        shown = _shown(by_data, datasets, _table1_text)
        records = {d: _base_record(by_data[d], labels) for d in datasets if d in by_data}
        records_of[(setting, method)] = records
        table.records.extend(records.values())
        accs = [by_data[d].metrics.accuracy for d in datasets if d in by_data]
        avg = pct(float(np.mean(accs)))
        if len(accs) < len(datasets):
            avg += f" ({len(accs)} of {len(datasets)})"
        if any(not by_data[d].complete for d in datasets if d in by_data):
            avg += " [incl. incomplete]"
        table.rows.append(Row([labels[setting], method.label, *shown, avg], group=labels[setting]))
        if paper:
            ref = [paper_mod.table1_cell(setting, method, d, table1_tau) for d in datasets]
            if any(ref):
                for d, p in zip(datasets, ref):
                    if d in records:
                        records[d].update(paper_accuracy=p and p.acc, paper_tok=p and p.tok, paper_tpi=p and p.tpi)
                avg_ref = paper_mod.table1_avg(setting, method, table1_tau)
                table.rows.append(_paper_row(
                    ref, lambda p: f"{p.acc:.2f} / {tokens(p.tok)}" + (f" [{tokens(p.tpi)}]" if p.tpi else ""),
                    labels[setting], ("–" if avg_ref is None else f"{avg_ref:.2f}",)))
        if method.kind == "random":
            scale = next((k for k in rows if k[0] == setting and k[1].kind == "scale"), None)
            if scale is not None:
                table.rows.append(_random_difference(rows[scale], by_data, datasets, labels[setting],
                                                     records_of.get(scale, {})))
    table.notes = [
        "Acc: pass@1 averaged over samples, then problems; 95% percentile bootstrap CI over problems.",
        "Tok: response tokens of the solving calls per problem (the paper's Tok); Tpi: per step "
        "(InftyThink: per round). Every token, outlines and scoring included: tok_total in the CSV.",
    ]
    if any(r.cells[1].startswith("SCALE − random") for r in table.rows):
        table.notes.append("SCALE − random: SCALE's accuracy minus its random control's (the same share of "
                           "scored steps on System 2, chosen at random) on the same problems, in points, with "
                           "the paired bootstrap 95% CI over problems; S2: each one's share of steps on System 2.")
    if any(not c.complete for c in cells):
        table.notes.append("[n of N attempts]: an incomplete run, scored over the attempts it has.")
    return table


def sweep_groups(cells: list[Cell]) -> dict[tuple[SettingId, str, str], list[Cell]]:
    """(setting, router kind, scorer) -> its cells, for routers swept over >= 2 values."""
    groups: dict[tuple[SettingId, str, str], list[Cell]] = defaultdict(list)
    for c in cells:
        if c.method.kind in ("scale", "fraction") and c.method.param is not None:
            groups[(c.setting, c.method.kind, c.method.detail)].append(c)
    return {k: v for k, v in groups.items() if len({c.method.param for c in v}) >= 2}


def table2(cells: list[Cell], paper: bool = False) -> Table | None:
    groups = sweep_groups(cells)
    if not groups:
        return None
    swept = [c for v in groups.values() for c in v]
    datasets = datasets_of(swept)
    labels = setting_labels(cells)
    table = Table("table2", "Table 2: router sweep, accuracy % (95% CI) / Tok / % of steps on System 2",
                  ["Model", "Router", *datasets])
    for (setting, kind, _detail), members in groups.items():
        by_param: dict[float, dict[str, Cell]] = defaultdict(dict)
        for c in members:
            by_param[c.method.param][c.dataset] = c  # type: ignore[index]
        symbol = "τ" if kind == "scale" else "q"
        for param in sorted(by_param):
            by_data = by_param[param]
            shown = _shown(by_data, datasets, lambda c: (
                f"{pct(c.metrics.accuracy)} {ci(c.metrics.accuracy_ci95)} / {tokens(c.metrics.tok_paper)} / "
                f"{100 * c.metrics.s2_fraction:.1f}{_note(c)}"))
            with_paper = paper and kind == "scale"
            ref = [paper_mod.table2_cell(setting, param, d) if with_paper else None for d in datasets]
            for d, p in zip(datasets, ref):
                if d not in by_data:
                    continue
                rec = _base_record(by_data[d], labels)
                if with_paper:
                    rec.update(paper_accuracy=p and p.acc, paper_tok=p and p.tok, paper_s2_percent=p and p.s2_percent)
                table.records.append(rec)
            router = f"{members[0].method.label.split(' ' + symbol)[0]} {symbol}={param:g}"
            group = f"{labels[setting]}|{kind}"
            table.rows.append(Row([labels[setting], router, *shown], group=group))
            if with_paper and any(ref):
                table.rows.append(_paper_row(ref, lambda p: f"{p.acc:.2f} / {tokens(p.tok)} / {p.s2_percent:.1f}",
                                             group))
    table.notes = ["% S2: share of solved steps routed to System 2 (the paper: % of steps rated hard).",
                   "The paper gives Tok in thousands; shown here as tokens."]
    return table


def table3(pairs: list[tuple[Cell, Cell]], paper: bool = False) -> Table | None:
    """``pairs``: (base cell, tuned cell), same dataset."""
    if not pairs:
        return None
    datasets = datasets_of([b for b, _ in pairs])
    labels = setting_labels([c for pair in pairs for c in pair])
    table = Table("table3", "Table 3: base → fine-tuned, accuracy % / tuned Tok",
                  ["Model", "Method", *datasets])
    rows: dict[tuple[SettingId, str], dict[str, tuple[Cell, Cell]]] = defaultdict(dict)
    for base, tuned in pairs:
        method = base.method.label if base.method == tuned.method else f"{base.method.label} → {tuned.method.label}"
        rows[(base.setting, method)][base.dataset] = (base, tuned)
    for (setting, method), by_data in rows.items():
        shown = _shown(by_data, datasets, lambda pair: (
            f"{pct(pair[0].metrics.accuracy)}{_note(pair[0])} → {pct(pair[1].metrics.accuracy)} "
            f"{ci(pair[1].metrics.accuracy_ci95)} / {tokens(pair[1].metrics.tok_paper)}{_note(pair[1])}"))
        ref = [paper_mod.table3_cell(setting, d) if paper else None for d in datasets]
        for d, p in zip(datasets, ref):
            if d not in by_data:
                continue
            base, tuned = by_data[d]
            rec = {**{f"base_{k}": v for k, v in _base_record(base, labels).items()},
                   **{f"tuned_{k}": v for k, v in _base_record(tuned, labels).items()}}
            if paper:
                rec.update(paper_base_accuracy=p and p.base_acc, paper_tuned_accuracy=p and p.acc,
                           paper_tuned_tok=p and p.tok)
            table.records.append(rec)
        table.rows.append(Row([labels[setting], method, *shown], group=labels[setting]))
        if paper and any(ref):
            table.rows.append(_paper_row(ref, lambda p: f"{p.base_acc:.2f} → {p.acc:.2f} / {tokens(p.tok)}",
                                         labels[setting]))
    return table


def comparisons_table(comps: list[Comparison]) -> Table | None:
    if not comps:
        return None
    labels = setting_labels([c for comp in comps for c in (comp.a, comp.b)])
    table = Table("comparisons", "Paired comparisons on the same problems (A − B)",
                  ["Model", "Dataset", "A", "B", "Problems", "Acc A", "Acc B", "Δ pp (95% CI)", "p",
                   "Tok A/B", "Total tok A/B"])
    for comp in comps:
        ratio = lambda r: "–" if r is None else f"{r:.2f}×"
        lo, hi = comp.ci95
        table.rows.append(Row([
            labels[comp.a.setting], comp.a.dataset, comp.a.method.label + _note(comp.a),
            comp.b.method.label + _note(comp.b), str(comp.n_problems), pct(comp.acc_a), pct(comp.acc_b),
            f"{100 * comp.diff:+.2f} ({100 * lo:+.1f}, {100 * hi:+.1f})", f"{comp.p_value:.3f}",
            ratio(comp.tok_ratio), ratio(comp.tok_total_ratio)], group=f"{labels[comp.a.setting]}|{comp.a.dataset}"))
        table.records.append({
            "setting": labels[comp.a.setting], "dataset": comp.a.dataset, "a": comp.a.method.label,
            "b": comp.b.method.label, "a_runs": comp.a.paths, "b_runs": comp.b.paths,
            "n_problems": comp.n_problems, "accuracy_a": comp.acc_a, "accuracy_b": comp.acc_b,
            "diff": comp.diff, "diff_ci95_lo": lo, "diff_ci95_hi": hi, "p_value": comp.p_value,
            "tok_paper_ratio": comp.tok_ratio, "tok_total_ratio": comp.tok_total_ratio,
        })
    table.notes = ["Δ: per-problem accuracy difference averaged over the problems both have; CI and p "
                   "from a paired bootstrap over problems (10,000 resamples).",
                   "Tok A/B: the paper's Tok (solving calls); total: every response token."]
    return table
