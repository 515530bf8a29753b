"""scale-report over real SmolLM2 runs (the embedded model, tier 3): SCALE and CoT on two demo problems."""

from __future__ import annotations

import csv

import pytest

from scale.cli.report import main as report_main
from scale.rundir import RunDir
from scale.runner.run import run_eval
from scale.testing.config import compose

pytestmark = pytest.mark.slow

def test_report_over_smollm2_runs(smollm2_dir, tmp_path):
    common = ("experiment=demo", "data.limit=2", "runner.progress=false")
    run_eval(compose(*common, f"run_dir={tmp_path / 'runs' / 'scale'}"))
    run_eval(compose(*common, "method=cot_s1", f"run_dir={tmp_path / 'runs' / 'cot'}"))
    out = tmp_path / "report"
    assert report_main([str(tmp_path / "runs"), "--out", str(out), "--paper"]) == 0
    with (out / "table1.csv").open() as fh:
        rows = {r["method"]: r for r in csv.DictReader(fh)}
    assert set(rows) == {"SCALE τ=0.5", "CoT (S1)"}
    for method, name in (("SCALE τ=0.5", "scale"), ("CoT (S1)", "cot")):
        m = RunDir(tmp_path / "runs" / name).read_metrics()
        assert float(rows[method]["accuracy"]) == m.accuracy and float(rows[method]["tok_total"]) == m.tok_total
        assert rows[method]["setting"] == "smollm2-135m-instruct" and not rows[method].get("paper_accuracy")
    stages = (out / "figures" / "stage_cost_demo.png")
    assert stages.stat().st_size > 10_000
    with (out / "comparisons.csv").open() as fh:
        (comp,) = list(csv.DictReader(fh))
    assert (comp["a"], comp["b"], comp["n_problems"]) == ("SCALE τ=0.5", "CoT (S1)", "2")
