"""A table once, three ways: Markdown, LaTeX (booktabs) and CSV.

A :class:`Table` holds display rows (what Markdown and LaTeX show) and, separately, one
numeric record per cell (what the CSV holds), so the CSV keeps full precision and the
display can round.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Row:
    cells: list[str]
    paper: bool = False  # the paper's numbers for the row above (italic in LaTeX)
    group: str = ""  # a new value starts a new block (a rule in LaTeX)


@dataclass
class Table:
    name: str  # file stem: table1, table2, ...
    title: str
    header: list[str]
    rows: list[Row] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)  # the CSV
    notes: list[str] = field(default_factory=list)

    def write(self, out: Path) -> list[Path]:
        paths = [out / f"{self.name}.md", out / f"{self.name}.tex", out / f"{self.name}.csv"]
        for path, text in zip(paths, (self.markdown(), self.latex(), self.csv())):
            path.write_text(text, encoding="utf-8")
        return paths

    # -- Markdown ---------------------------------------------------------------------
    def markdown(self) -> str:
        def line(cells: list[str]) -> str:
            return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

        lines = [f"### {self.title}", "", line(self.header), "|" + "---|" * len(self.header)]
        for row in self.rows:
            cells = [f"*{c}*" if row.paper and c else c for c in row.cells]
            lines.append(line(cells))
        lines += ["", *(f"- {n}" for n in self.notes)] if self.notes else []
        return "\n".join(lines) + "\n"

    # -- LaTeX ------------------------------------------------------------------------
    def latex(self) -> str:
        cols = "l" * 2 + "c" * (len(self.header) - 2) if len(self.header) > 2 else "l" * len(self.header)
        lines = [
            "% \\usepackage{booktabs}",
            "\\begin{table}[t]",
            "\\centering",
            "\\small",
            f"\\caption{{{latex_escape(self.title)}}}",
            f"\\begin{{tabular}}{{{cols}}}",
            "\\toprule",
            " & ".join(latex_escape(h) for h in self.header) + " \\\\",
            "\\midrule",
        ]
        group = None
        for row in self.rows:
            if group is not None and row.group != group:
                lines.append("\\midrule")
            group = row.group
            cells = [latex_escape(c) for c in row.cells]
            if row.paper:
                cells = [f"\\textit{{{c}}}" if c else c for c in cells]
            lines.append(" & ".join(cells) + " \\\\")
        lines += ["\\bottomrule", "\\end{tabular}"]
        if self.notes:
            notes = " ".join(latex_escape(n) for n in self.notes)
            lines.append(f"\\par\\smallskip\\footnotesize {notes}")
        lines.append("\\end{table}")
        return "\n".join(lines) + "\n"

    # -- CSV --------------------------------------------------------------------------
    def csv(self) -> str:
        buf = io.StringIO()
        keys: list[str] = []
        for rec in self.records:
            keys += [k for k in rec if k not in keys]
        writer = csv.DictWriter(buf, fieldnames=keys, lineterminator="\n")
        writer.writeheader()
        for rec in self.records:
            writer.writerow({k: "" if rec.get(k) is None else rec.get(k) for k in keys})
        return buf.getvalue()


_LATEX = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
    "τ": r"$\tau$", "–": "--", "→": r"$\rightarrow$", "≤": r"$\le$", "±": r"$\pm$", "Δ": r"$\Delta$",
    "·": r"$\cdot$", "†": r"$^\dagger$", "×": r"$\times$",
}


def latex_escape(text: str) -> str:
    return "".join(_LATEX.get(ch, ch) for ch in text)


# -- number formats shared by the tables -------------------------------------------------
def pct(x: float) -> str:
    return f"{100 * x:.2f}"


def ci(lo_hi: list[float] | tuple[float, float]) -> str:
    lo, hi = lo_hi
    return f"({100 * lo:.1f}–{100 * hi:.1f})"


def tokens(x: float | None) -> str:
    return "–" if x is None else f"{x:,.0f}"
