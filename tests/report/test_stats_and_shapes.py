"""The report's logic without a model: paired bootstrap, run identity, the paper's numbers,
Table 3 and the Figure 2 budget plot over run dirs made with the scripted engine."""

from __future__ import annotations

import csv
import itertools
import json
import re
from pathlib import Path

import numpy as np
import pytest

from scale.data import load_benchmark
from scale.errors import DataError
from scale.paths import REPO_ROOT
from scale.report import make_report
from scale.report.identity import identify
from scale.report.paper import paper_data, paper_model, table1_cell, table2_cell
from scale.report.plots import budget_sweep
from scale.report.stats import paired_bootstrap
from scale.runner.run import run_eval
from scale.testing import Rule, ScriptedEngine, scripted_systems
from scale.testing.config import compose

PROBLEMS = load_benchmark("demo", limit=6)


# -- paired comparison ---------------------------------------------------------------------
def _loop_bootstrap_ci(diffs: np.ndarray, n_boot: int, seed: int) -> tuple[float, float]:
    """The bootstrap CI as a plain loop over the same resampling indices."""
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, len(diffs), size=(n_boot, len(diffs)))
    means = [sum(diffs[i] for i in row) / len(diffs) for row in rows]
    lo, hi = np.quantile(means, [0.025, 0.975])
    return float(lo), float(hi)


def _loop_sign_flip(diffs: list[float]) -> float:
    """The exact sign-flip p-value by enumerating sign patterns one at a time."""
    observed = abs(sum(diffs) / len(diffs))
    hits = total = 0
    for pattern in itertools.product((1, -1), repeat=len(diffs)):
        total += 1
        hits += abs(sum(s * d for s, d in zip(pattern, diffs)) / len(diffs)) >= observed - 1e-12
    return hits / total


def test_paired_ci_equals_the_loop_version_and_p_the_enumeration():
    rng = np.random.default_rng(3)
    diffs = rng.choice([-1.0, -0.5, 0.0, 0.5, 1.0], size=12, p=[0.1, 0.1, 0.4, 0.2, 0.2])
    (lo, hi), p = paired_bootstrap(diffs, n_boot=2000, seed=0)
    assert (lo, hi) == pytest.approx(_loop_bootstrap_ci(diffs, 2000, 0))
    assert p == pytest.approx(_loop_sign_flip(list(diffs)))
    assert lo <= diffs.mean() <= hi


def test_sign_flip_p_is_honest_for_few_problems():
    # One, two, three problems all favouring A: exact p = 1, 0.5, 0.25 (a bootstrap says ~0).
    assert [paired_bootstrap(np.ones(n))[1] for n in (1, 2, 3)] == [1.0, 0.5, 0.25]
    assert paired_bootstrap(np.zeros(30)) == ((0.0, 0.0), 1.0)
    ci, p = paired_bootstrap(np.ones(30), n_boot=999)  # Monte Carlo beyond EXACT_MAX
    assert ci == (1.0, 1.0) and p == pytest.approx(1 / 1000)
    noise = np.random.default_rng(0).choice([-1.0, 1.0], size=40)
    assert paired_bootstrap(noise)[1] > 0.05


# -- identity and the paper's numbers ------------------------------------------------------
# n_samples: pass@1 averaged over 8 samples, except MajVote: one vote over method.k = 8 samples.
@pytest.mark.parametrize(("experiment", "label", "setting", "n_samples", "paper_acc"), [
    ("table1/qwen3_32b_scale_aime24", "SCALE τ=0.5", "Qwen3-32B", 8, 82.92),
    ("table1/qwq_32b_majority_aime25", "MajVote@8", "QwQ-32B (S1 Qwen3-32B)", 1, 63.33),
    ("table1/r1_qwen_32b_cot_amc23", "CoT (S2)", "DeepSeek-R1-Distill-Qwen-32B (S1 Qwen3-32B)", 8, 95.00),
    ("table1/r1_llama_70b_inftythink_aime24", "InftyThink", "DeepSeek-R1-Distill-Llama-70B (S1 Qwen3-32B)", 8,
     69.58),
])
def test_table1_configs_are_identified_and_matched_to_the_paper(experiment, label, setting, n_samples, paper_acc):
    ident = identify(compose(f"experiment={experiment}"), experiment)
    assert (ident.method.label, ident.setting.label, ident.n_samples) == (label, setting, n_samples)
    cell = table1_cell(ident.setting, ident.method, ident.dataset)
    assert cell is not None and cell.acc == paper_acc


def test_sweep_and_control_configs_are_identified():
    ident = identify(compose("experiment=table2_tau_sweep", "router.tau=0.3", "data=aime25"), "t2")
    assert ident.method.label == "SCALE τ=0.3" and paper_model(ident.setting) == "Qwen3-32B"
    assert table2_cell(ident.setting, 0.3, "aime25").acc == 61.67
    ident = identify(compose("router=fraction", "router.q=0.25"), "f")
    assert ident.method.label == "SCALE, hardest fraction q=0.25"
    ident = identify(compose("router=random", "router.fraction=0.4"), "r")
    assert (ident.method.kind, ident.method.param) == ("random", 0.4)
    assert table1_cell(ident.setting, ident.method, "demo") is None  # smollm2: not a paper row


def test_paper_file_equals_paper_md():
    doc = REPO_ROOT.parent / "shared" / "docs" / "PAPER.md"
    if not doc.is_file():
        pytest.skip(f"{doc} not here")
    text = doc.read_text()
    t1 = text.split("## Table 1")[1].split("## Table 2")[0]
    n = 0
    for line in t1.splitlines():
        m = re.match(r"\| (.+) (CoT|InftyThink|MajVote|SCALE) \| (.+) \| (.+) \| (.+) \| ([\d.]+) \|", line)
        if not m:
            continue
        row = paper_data()["table1"][m[1]][m[2]]
        for data, cell in zip(("aime24", "aime25", "amc23"), m.groups()[2:5]):
            acc, tok, tpi = re.match(r"([\d.]+)/([\d,]+)(?:\[([\d,]+)\])?", cell).groups()
            assert row[data] == [float(acc), int(tok.replace(",", "")),
                                 int(tpi.replace(",", "")) if tpi else None], (m[1], m[2], data)
        assert row["avg"] == float(m[6])
        n += 1
    assert n == 16
    t2 = text.split("## Table 2")[1].split("## Table 3")[0]
    rows = re.findall(r"\| ([\d.]+) \| ([\d./]+) \| ([\d./]+) \|", t2)
    assert len(rows) == 8
    for tau, a24, a25 in rows:
        got = paper_data()["table2"]["Qwen3-32B"][float(tau)]
        assert got["aime24"] == [float(x) for x in a24.split("/")]
        assert got["aime25"] == [float(x) for x in a25.split("/")]
    t3 = text.split("## Table 3")[1].split("## What")[0]
    rows = re.findall(r"\| ([\w.-]+) \| ([\d.]+) → ([\d.]+)/([\d.]+) \| ([\d.]+) → ([\d.]+)/([\d.]+) \| "
                      r"([\d.]+) → ([\d.]+)/([\d.]+) \|", t3)
    assert len(rows) == 4
    for model, *vals in rows:
        got = paper_data()["table3"][model]
        assert [*got["aime24"], *got["aime25"], *got["amc23"]] == [float(v) for v in vals]


# -- Table 3 and Figure 2 over scripted run dirs ------------------------------------------
def _engine(right: int) -> ScriptedEngine:
    """CoT that answers the first ``right`` problems correctly, the others wrong."""
    def reply(request):
        text = json.dumps(request.messages)
        for i, p in enumerate(PROBLEMS):
            if json.dumps(p.question[:40])[1:-1] in text:
                return f"\\boxed{{{p.answer if i < right else int(p.answer) + 1}}}"  # decided in-process
        raise AssertionError("unknown problem")

    return ScriptedEngine([Rule(stage="solve", reply=reply)])


def _cot(run_dir: Path, right: int, *overrides: str) -> None:
    cfg = compose("experiment=debug", "method=cot_s2", "data.limit=6", f"run_dir={run_dir}", "runner.progress=false",
                  *overrides)
    run_eval(cfg, systems=scripted_systems(_engine(right)))


def test_table3_pairs_and_the_budget_figure(tmp_path):
    base = "systems.engines.main.model=Qwen/Qwen2.5-32B-Instruct"
    _cot(tmp_path / "base", 1, base)
    _cot(tmp_path / "b16", 0, base, "systems.s2.sampling.max_new_tokens=16")  # Figure 2's second point
    _cot(tmp_path / "tuned", 5, "systems.engines.main.model=/ckpt/qwen2.5-32b-scale-sft")
    out = tmp_path / "report"
    report = make_report([str(tmp_path / "b*")], out, paper=True,
                         tuned=[(str(tmp_path / "base"), str(tmp_path / "tuned"))], plots=False)
    budget_sweep(report.cells, out / "figures")  # the one figure this test needs (plotting is slow)
    t3 = (out / "table3.md").read_text()
    assert "| Qwen2.5-32B-Instruct | CoT (S2) | 16.67 → 83.33 (" in t3
    assert "*16.67 → 53.33 / 22,000*" not in t3  # the paper's row is for its own datasets only
    with (out / "table3.csv").open() as fh:
        (row,) = list(csv.DictReader(fh))
    assert float(row["base_accuracy"]) == pytest.approx(1 / 6) and float(row["tuned_accuracy"]) == pytest.approx(5 / 6)
    assert (out / "figures" / "figure2_budget.png").stat().st_size > 10_000
    t1 = (out / "table1.md").read_text()
    assert "| Qwen2.5-32B-Instruct, S2 ≤ 16 tok | CoT (S2) | 0.00 (0.0–0.0) / 1 |" in t1
    assert "| Qwen2.5-32B-Instruct, S2 ≤ 48 tok | CoT (S2) | 16.67 " in t1
    assert len(report.cells) == 3
    # A pair's side must be one run: a glob or a folder of several is named in one line.
    runs = f"({tmp_path / 'b16'}, {tmp_path / 'base'})"
    with pytest.raises(DataError) as err:
        make_report([str(tmp_path / "b*")], out, tuned=[(str(tmp_path / "b*"), str(tmp_path / "tuned"))], plots=False)
    assert str(err.value) == f"--tuned {tmp_path / 'b*'}: matches 2 runs {runs}; name one run dir on each side"
    with pytest.raises(DataError, match=rf"^--compare {re.escape(str(tmp_path))}: matches 3 runs \("):
        make_report([str(tmp_path / "b*")], out, compare_runs=[(str(tmp_path / "base"), str(tmp_path))], plots=False)


def test_paper_numbers_sit_beside_ours(shared_data, tmp_path):
    """Runs of the paper's own configs (Qwen3-32B, AIME24; scripted answers) get the paper's
    Table 1 and Table 2 numbers on the row below, in the CSV, and in the figure."""
    problems = load_benchmark("aime24", limit=2)

    def reply(request):
        text = json.dumps(request.messages)
        hit = [p for p in problems if json.dumps(p.question[:40])[1:-1] in text]
        return f"so \\\\boxed{{{hit[0].answer if hit and hit[0] is problems[0] else 1}}}"

    def systems():
        return scripted_systems(ScriptedEngine([
            Rule(stage="decompose", reply=json.dumps({"step1": "Set up the count", "step2": "Answer"})),
            Rule(stage="select", reply="Outline 1"), Rule(stage="score", reply="0.4"),
            Rule(stage="solve", reply=reply)]))

    small = ("data.limit=2", "n_samples=1", "runner.progress=false")
    for name, over in (("cot", ["experiment=table1/qwen3_32b_cot_aime24"]),
                       ("t05", ["experiment=table2_tau_sweep", "router.tau=0.5"]),
                       ("t02", ["experiment=table2_tau_sweep", "router.tau=0.2"])):
        run_eval(compose(*over, *small, f"run_dir={tmp_path / 'runs' / name}"), systems=systems())
    out = tmp_path / "report"
    make_report([str(tmp_path / "runs")], out, paper=True, plots=False)
    t1 = (out / "table1.md").read_text()
    assert "| Qwen3-32B | CoT (S2) | 50.00 (" in t1
    assert "|  | *paper* | *73.33 / 7,409* |" in t1 and "|  | *paper* | *82.92 / 25,581 [3,550]* |" in t1
    t2 = (out / "table2.md").read_text()
    assert "|  | *paper* | *78.75 / 22,500 / 75.6* |" in t2 and "|  | *paper* | *74.58 / 20,300 / 55.7* |" in t2
    with (out / "table2.csv").open() as fh:
        rows = {float(r["router_param"]): r for r in csv.DictReader(fh)}
    assert float(rows[0.2]["paper_accuracy"]) == 78.75 and float(rows[0.2]["s2_fraction"]) == 1.0
    assert float(rows[0.5]["s2_fraction"]) == 0.5  # step 1 scored 0.4 -> S1, the pinned last step -> S2
    assert "\\textit{paper}" in (out / "table1.tex").read_text()
    # Issue 19 item 12: the paper states no tau for Table 1; its SCALE row goes to the one named.
    out2 = tmp_path / "report-tau02"
    make_report([str(tmp_path / "runs")], out2, paper=True, plots=False, table1_tau=0.2)
    lines = (out2 / "table1.md").read_text().splitlines()
    scale_row = next(i for i, line in enumerate(lines) if "SCALE τ=0.2" in line)
    assert lines[scale_row + 1].startswith("|  | *paper* | *82.92 / 25,581 [3,550]* |")
    assert not any("SCALE τ=0.5" in line for line in lines)
    with (out2 / "table1.csv").open() as fh:
        scale_rows = [r for r in csv.DictReader(fh) if r["method"].startswith("SCALE")]
    assert [(float(r["router_param"]), float(r["paper_accuracy"])) for r in scale_rows] == [(0.2, 82.92)]


def test_classifier_routed_scale_is_in_table1_and_compared():
    """tau null (the adapter's own threshold) is Table 1's SCALE row, paired with the baselines."""
    from scale.report.cells import Cell
    from scale.report.shapes import table1_methods
    from scale.report.stats import default_pairs

    routed = identify(compose("difficulty=classifier", "difficulty.adapter=/nowhere", "router.tau=null"),
                      "routed")
    assert routed.method.kind == "scale" and routed.method.param is None
    assert routed.method.label == "SCALE [classifier]"
    cot = identify(compose("method=cot_s2"), "cot")

    def cell(ident):
        return Cell(setting=ident.setting, dataset=ident.dataset, method=ident.method, runs=[], metrics=None)

    cells = [cell(routed), cell(cot)]
    assert table1_methods(cells, 0.5) == cells
    assert [(a.method.label, b.method.label) for a, b in default_pairs(cells)] == [
        ("SCALE [classifier]", "CoT (S2)")]


def test_table1_puts_the_random_control_and_the_paired_difference_beside_scale(tmp_path):
    """A hard problem is answered right only when its step 1 ran on System 2 (the last step sees
    its text); SCALE sends exactly the hard ones' step 1 there, the matched control as many at random. Table 1 shows
    SCALE, its control right below, and SCALE minus control on the same problems with its CI."""
    hard = {p.question[:40] for p in PROBLEMS[:3]}

    def score(request):
        return "0.9" if any(json.dumps(h)[1:-1] in json.dumps(request.messages) for h in hard) else "0.1"

    def solve(request):
        text = json.dumps(request.messages)
        if (request.template_kwargs or {}).get("enable_thinking") and "Answer" not in text[-300:]:
            return "KEY42"
        p = next(p for p in PROBLEMS if json.dumps(p.question[:40])[1:-1] in text)
        right = "KEY42" in text or p.question[:40] not in hard
        return f"\\boxed{{{p.answer if right else int(p.answer) + 1}}}"

    def systems():
        return scripted_systems(ScriptedEngine([
            Rule(stage="decompose", reply=json.dumps({"step1": "Find the key", "step2": "Answer"})),
            Rule(stage="select", reply="Outline 1"), Rule(stage="score", reply=score), Rule(stage="solve", reply=solve)]))

    small = ("experiment=debug", "data.limit=6", "runner.progress=false")
    run_eval(compose(*small, f"run_dir={tmp_path / 'runs' / 'scale'}"), systems=systems())
    run_eval(compose(*small, "router=random", f"router.match_run={tmp_path / 'runs' / 'scale'}",
                     f"run_dir={tmp_path / 'runs' / 'random'}"), systems=systems())
    report = make_report([str(tmp_path / "runs")], tmp_path / "report", plots=False)
    by_kind = {c.method.kind: c for c in report.cells}
    scale, control = by_kind["scale"], by_kind["random"]
    diffs = np.array([scale.per_problem[p] - control.per_problem[p] for p in sorted(scale.per_problem)])
    assert scale.metrics.accuracy == 1.0 and control.metrics.accuracy < 1.0  # it missed some hard ones
    assert scale.metrics.s2_fraction == pytest.approx(control.metrics.s2_fraction)  # same share on System 2
    (lo, hi), _ = paired_bootstrap(diffs)
    rows = [r for r in (tmp_path / "report" / "table1.md").read_text().splitlines() if r.startswith("| SmolLM")
            or r.startswith("| tiny")]
    methods = [r.split(" | ")[1] for r in rows]
    i = methods.index("SCALE τ=0.5")
    assert methods[i + 1:i + 3] == ["random control (matched)", "SCALE − random (Δ pp, 95% CI)"], methods
    share = f"S2 {100 * scale.metrics.s2_fraction:.0f}% / {100 * control.metrics.s2_fraction:.0f}%"
    assert rows[i + 2].split(" | ")[2] == f"{100 * diffs.mean():+.2f} ({100 * lo:+.1f}, {100 * hi:+.1f}); {share}"
    with (tmp_path / "report" / "table1.csv").open() as fh:
        rec = next(r for r in csv.DictReader(fh) if r["method"] == "SCALE τ=0.5")
    assert float(rec["random_diff"]) == pytest.approx(diffs.mean()) and float(rec["random_diff_ci95_lo"]) == lo
