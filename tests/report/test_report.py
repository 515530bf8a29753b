"""scale-report on real run dirs made here with the tiny Qwen3 (``experiment=debug``).

Table cells equal the metrics files; LaTeX is balanced (and compiles where pdflatex is);
figures are written; runs that cannot share a cell are refused with one line.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from scale.cli.report import main as report_main
from scale.rundir import RunDir
from scale.runner.run import run_eval
from scale.testing.config import compose

pytestmark = pytest.mark.tiny

RUNS = {
    "scale": (),
    "scale_tau07": ("router.tau=0.7",),
    "random": ("router=random", "router.fraction=0.5"),
    "cot_s2": ("method=cot_s2",),
}


def _run(run_dir: Path, *overrides: str) -> Path:
    run_eval(compose("experiment=debug", f"run_dir={run_dir}", "runner.progress=false", *overrides))
    return run_dir


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("runs")
    for name, overrides in RUNS.items():
        _run(root / name, *overrides)
    return root


@pytest.fixture(scope="module")
def report(runs, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report")
    assert report_main([str(runs / "*"), "--out", str(out), "--paper"]) == 0
    return out


def _csv(path: Path) -> list[dict]:
    with path.open() as fh:
        return list(csv.DictReader(fh))


def test_table_cells_equal_the_metrics_files(runs, report):
    rows = {Path(r["runs"]).name: r for r in _csv(report / "table1.csv")}
    assert set(rows) == {"scale", "random", "cot_s2"}  # tau 0.7 is Table 2's
    for name, row in rows.items():
        m = RunDir(runs / name).read_metrics()
        for key in ("accuracy", "tok_paper", "tpi", "tok_total", "s2_fraction"):
            assert float(row[key]) == getattr(m, key), (name, key)
        assert [float(row["accuracy_ci95_lo"]), float(row["accuracy_ci95_hi"])] == m.accuracy_ci95
        assert int(row["n_attempts"]) == m.n_attempts == 3 and row["complete"] == "True"
    md = (report / "table1.md").read_text()
    m = RunDir(runs / "cot_s2").read_metrics()
    lo, hi = m.accuracy_ci95
    assert f"| CoT (S2) | {100 * m.accuracy:.2f} ({100 * lo:.1f}–{100 * hi:.1f}) / {m.tok_paper:,.0f} |" in md
    sweep = {Path(r["runs"]).name: r for r in _csv(report / "table2.csv")}
    assert set(sweep) == {"scale", "scale_tau07"}
    assert float(sweep["scale_tau07"]["s2_fraction"]) == RunDir(runs / "scale_tau07").read_metrics().s2_fraction


def test_comparisons_default_to_scale_vs_baselines_and_control(report):
    rows = _csv(report / "comparisons.csv")
    assert {(r["a"], r["b"]) for r in rows} == {("SCALE τ=0.5", "CoT (S2)"), ("SCALE τ=0.5", "random control f=0.5")}
    for r in rows:
        assert int(r["n_problems"]) == 3 and 0 < float(r["p_value"]) <= 1


def test_latex_is_balanced_booktabs(report):
    for name in ("table1", "table2", "comparisons"):
        tex = (report / f"{name}.tex").read_text()
        begins, ends = re.findall(r"\\begin\{(\w+)\}", tex), re.findall(r"\\end\{(\w+)\}", tex)
        assert begins == ["table", "tabular"] and ends == ["tabular", "table"], name
        assert tex.index("\\toprule") < tex.index("\\midrule") < tex.index("\\bottomrule")
        body = tex.split("\\midrule", 1)[1].split("\\bottomrule")[0]
        header = tex.split("\\toprule", 1)[1].split("\\\\")[0]
        width = header.count("&")
        for line in body.splitlines():
            if line.endswith("\\\\"):
                assert line.count("&") - line.count("\\&") == width, line


@pytest.mark.skipif(shutil.which("pdflatex") is None,
                    reason="pdflatex not installed: LaTeX checked for balance only")
def test_latex_compiles_with_pdflatex(report, tmp_path):
    doc = tmp_path / "doc.tex"
    doc.write_text("\\documentclass{article}\\usepackage{booktabs}\\begin{document}\n"
                   + (report / "table1.tex").read_text() + "\\end{document}\n")
    proc = subprocess.run(["pdflatex", "-interaction=nonstopmode", doc.name], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:]


def test_figures_are_written(report):
    for stem in ("accuracy_vs_tokens_demo", "stage_cost_demo", "s2_share_vs_tau"):
        png = report / "figures" / f"{stem}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000, stem
        assert (report / "figures" / f"{stem}.pdf").stat().st_size > 1000
    assert "![s2_share_vs_tau](figures/s2_share_vs_tau.png)" in (report / "report.md").read_text()


def _refusal(capsys, *args: str) -> str:
    capsys.readouterr()  # drop what the runs printed
    assert report_main([*args, "--no-plots"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err, err
    return err


def test_incompatible_runs_are_refused(runs, tmp_path, capsys):
    other_n = _run(tmp_path / "n2", "n_samples=2", "data.limit=1")  # problem set differs too
    err = _refusal(capsys, str(runs / "scale"), str(other_n), "--out", str(tmp_path / "o1"))
    assert err.startswith(f"error: refusing to put {runs / 'scale'} and {other_n} in one cell: different benchmarks")
    assert "data.limit: 3 vs 1" in err
    # the same problems, another sample count
    moved = tmp_path / "n2same"
    shutil.copytree(other_n, moved)
    cfg = json.loads((moved / "config.json").read_text())
    cfg["data"]["limit"] = 3
    (moved / "config.json").write_text(json.dumps(cfg))
    err = _refusal(capsys, str(runs / "scale"), str(moved), "--out", str(tmp_path / "o2"))
    assert "different sample counts (n_samples 1 vs 2)" in err
    # a run written under another schema version (version 1 had no schema_version field)
    old = tmp_path / "v1"
    shutil.copytree(runs / "scale", old)
    lines = [json.loads(x) for x in (old / "records.jsonl").read_text().splitlines()]
    (old / "records.jsonl").write_text("".join(json.dumps({k: v for k, v in r.items() if k != "schema_version"})
                                               + "\n" for r in lines))
    err = _refusal(capsys, str(runs / "scale"), str(old), "--out", str(tmp_path / "o3"))
    assert "schema version 1" in err and str(old) in err
    # a copy of the same run would count every attempt twice
    err = _refusal(capsys, str(runs / "scale"), str(runs / "scale"), str(_copy(runs / "scale", tmp_path / "dup")),
                   "--out", str(tmp_path / "o4"))
    assert "same run" in err


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def test_an_incomplete_run_says_n_of_n(runs, tmp_path, capsys):
    killed = _copy(runs / "cot_s2", tmp_path / "killed")
    lines = (killed / "records.jsonl").read_text().splitlines(keepends=True)
    (killed / "records.jsonl").write_text("".join(lines[:2]))  # as if killed before finalize
    (killed / "metrics.json").unlink()
    out = tmp_path / "out"
    assert report_main([str(killed), "--out", str(out), "--no-plots"]) == 0
    assert "| CoT (S2) | " in (out / "table1.md").read_text()
    assert "[2 of 3 attempts]" in (out / "table1.md").read_text()
    assert "[incl. incomplete]" in (out / "table1.md").read_text()  # the Avg column says so too
    row = _csv(out / "table1.csv")[0]
    assert (row["n_attempts"], row["expected_attempts"], row["complete"]) == ("2", "3", "False")
    assert "incomplete, 2 of 3 attempts" in capsys.readouterr().err
