"""sweep=shared: one job, a run dir per point, each equal to an independent run's, record for record.

Logic (scripted engine): the prefix tree solves each distinct route prefix once, plans once
per attempt, and a failing step fails only the points below it. Real model (tiny Qwen3):
``scale-eval ... sweep=shared`` against the Hydra multirun of the same points.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from scale.data import load_benchmark
from scale.errors import ConfigError, EngineError
from scale.rundir import Record, RunDir
from scale.runner.run import run_eval
from scale.runner.sweep import group_points, run_shared_sweep
from scale.testing import Rule, ScriptedEngine, comparable, scripted_systems
from scale.testing.config import compose
from scale.testing.scripted import prompt_text
from tests.helpers.shard_env import clear_shard_env

PROBLEMS = load_benchmark("demo", limit=4)
STEPS = ["Name the starting amount a.", "Apply the change to a, call it b.", "State b."]
BASE = ("experiment=debug", "data.limit=4", "runner.progress=false", "method.n_outlines=2")


@pytest.fixture(autouse=True)
def _single_process(monkeypatch):
    clear_shard_env(monkeypatch)


def _solve(request) -> str:
    """A reply that depends on everything the step sees (so a different prefix changes it)."""
    h = zlib.crc32(prompt_text(request).encode()) % 97
    return f"we get {h}, so \\boxed{{{h}}}"


def engine(*extra: Rule) -> ScriptedEngine:
    return ScriptedEngine([
        *extra,
        Rule(stage="decompose", reply=json.dumps({f"step{i + 1}": s for i, s in enumerate(STEPS)})),
        Rule(stage="select", reply="Outline 1"),
        Rule(stage="score", pattern=r"Current step:\s*Name", reply="0.2"),
        Rule(stage="score", pattern=r"Current step:\s*Apply", reply="0.6"),
        Rule(stage="solve", reply=_solve, reasoning="a long thought"),
    ])


def records(run_dir: Path) -> dict:
    return {k: comparable(r) for k, r in sorted(RunDir(run_dir).collect().records.items())}


def configs(root: Path, key: str, values, *extra: str) -> list[dict]:
    return [compose(*BASE, *extra, f"{key}={v}", f"run_dir={root / f'{key}{v}'}") for v in values]


def independent(root: Path, key: str, values, make_engine, *extra: str) -> list[ScriptedEngine]:
    engines = []
    for cfg in configs(root, key, values, *extra):
        eng = make_engine()
        run_eval(cfg, systems=scripted_systems(eng))
        engines.append(eng)
    return engines


def _same_run_dirs(shared: Path, alone: Path, key: str, values) -> None:
    for v in values:
        a, b = shared / f"{key}{v}", alone / f"{key}{v}"
        assert records(a) == records(b), v
        ca, cb = RunDir(a).read_config(), RunDir(b).read_config()
        assert {k: x for k, x in ca.items() if k != "run_dir"} == {k: x for k, x in cb.items() if k != "run_dir"}
        assert RunDir(a).read_metrics().to_dict() | {"seconds": 0, "stage_seconds": {}} == \
            RunDir(b).read_metrics().to_dict() | {"seconds": 0, "stage_seconds": {}}


TAUS = (0.1, 0.5, 0.7, 0.95)  # routes [S2 S2 S2], [S1 S2 S2], [S1 S1 S2], [S1 S1 S1]


def test_tau_sweep_equals_independent_runs_and_solves_each_prefix_once(tmp_path):
    eng = engine()
    metrics, stats = run_shared_sweep(configs(tmp_path / "shared", "router.tau", TAUS),
                                      systems=scripted_systems(eng))
    alone = independent(tmp_path / "alone", "router.tau", TAUS, engine)
    _same_run_dirs(tmp_path / "shared", tmp_path / "alone", "router.tau", TAUS)
    assert [m.s2_fraction for m in metrics] == pytest.approx([1, 2 / 3, 1 / 3, 0])
    n = len(PROBLEMS)
    # plan once per attempt instead of once per point
    assert len(eng.sent("decompose")) == 2 * n and sum(len(e.sent("decompose")) for e in alone) == 8 * n
    assert len(eng.sent("score")) == 2 * n
    # the tree: step 1 on {S2, S1}, step 2 on {S2|S2, S1|S2, S1|S1}, step 3 on 4 paths = 9 calls, not 12
    assert len(eng.sent("solve")) == 9 * n and sum(len(e.sent("solve")) for e in alone) == 12 * n
    assert stats.attempts == n and stats.point_generated_tokens == sum(
        sum(c["response_tokens"] for r in RunDir(tmp_path / "alone" / f"router.tau{t}").collect().records.values()
            for c in r.ledger) for t in TAUS)
    assert stats.generated_tokens < 0.5 * stats.point_generated_tokens
    assert (stats.route_vectors, stats.tree_steps, stats.point_steps) == (4 * n, 9 * n, 12 * n)


def test_fraction_sweep_dataset_wide_equals_independent_runs(tmp_path):
    qs = (0.25, 0.75)
    eng = engine()
    run_shared_sweep(configs(tmp_path / "shared", "router.q", qs, "router=fraction"), systems=scripted_systems(eng))
    independent(tmp_path / "alone", "router.q", qs, engine, "router=fraction")
    _same_run_dirs(tmp_path / "shared", tmp_path / "alone", "router.q", qs)


def test_a_failing_step_fails_only_the_points_below_it(tmp_path):
    """Problem 0's step 2 fails on System 2 (its own engine): tau 0.1 and 0.5 route it there,
    0.7 and 0.95 do not, so only their attempt becomes an error record."""
    def systems():
        head = re.escape(PROBLEMS[0].question[:30])
        s2 = engine(Rule(stage="solve", pattern=head + r".*Current question:\s*Apply",
                         error=EngineError("HTTP 500 after 4 retries")))
        return scripted_systems(engine(), s2_engine=s2)

    extra = ("runner.max_error_fraction=0.5",)
    run_shared_sweep(configs(tmp_path / "shared", "router.tau", TAUS, *extra), systems=systems())
    for cfg in configs(tmp_path / "alone", "router.tau", TAUS, *extra):
        run_eval(cfg, systems=systems())
    _same_run_dirs(tmp_path / "shared", tmp_path / "alone", "router.tau", TAUS)
    errors = {t: [k for k, r in RunDir(tmp_path / "shared" / f"router.tau{t}").collect().records.items()
                  if r.error] for t in TAUS}
    assert errors == {0.1: [(PROBLEMS[0].id, 0)], 0.5: [(PROBLEMS[0].id, 0)], 0.7: [], 0.95: []}


def test_a_random_control_sweep_checks_its_matched_run_as_run_eval_does(tmp_path):
    """router=random router.match_run=...: a run of another sample count is refused before any
    attempt runs; the matching run is accepted and each point routes like its independent run."""
    scale_dir = tmp_path / "scale"
    run_eval(compose(*BASE, f"run_dir={scale_dir}"), systems=scripted_systems(engine()))
    control = ("router=random", f"router.match_run={scale_dir}")
    eng = engine()
    with pytest.raises(ConfigError, match="ran n_samples=1, this run n_samples=2"):
        run_shared_sweep(configs(tmp_path / "two", "router.seed", (0, 1), *control, "n_samples=2"),
                         systems=scripted_systems(eng))
    assert eng.sent("decompose") == []
    run_shared_sweep(configs(tmp_path / "shared", "router.seed", (0, 1), *control), systems=scripted_systems(engine()))
    independent(tmp_path / "alone", "router.seed", (0, 1), engine, *control)
    _same_run_dirs(tmp_path / "shared", tmp_path / "alone", "router.seed", (0, 1))


def test_a_bad_logger_setting_stops_a_shared_sweep_before_it_starts(tmp_path):
    """As run_eval: a typo in logger.* fails now, not as a warning after the whole sweep."""
    pytest.importorskip("wandb")
    eng = engine()
    with pytest.raises(ConfigError, match="logger.mode must be one of"):
        run_shared_sweep(configs(tmp_path, "router.tau", (0.3, 0.6), "logger=wandb", "logger.mode=sometimes"),
                         systems=scripted_systems(eng))
    assert eng.sent("decompose") == [] and not list(tmp_path.rglob("records*.jsonl"))


def test_comparable_leaves_out_only_wall_clock_time():
    def rec(seconds: float, ledger: list[dict], score=0.5) -> Record:
        return Record(problem_id="a", sample_idx=0, method="scale", question="q", gold="1", answer="1",
                      correct=True, grade_reason="equal", seconds=seconds, ledger=ledger,
                      trace={"steps": [{"score": score}]},
                      cost={"tok_paper": 3, "seconds": seconds, "by_stage": {"solve": {"seconds": seconds}}})

    calls = [{"stage": "decompose", "response_tokens": 2, "seconds": 0.1},
             {"stage": "solve", "response_tokens": 3, "step": 0, "seconds": 0.2}]
    later = [{**c, "seconds": 9.0} for c in reversed(calls)]
    assert comparable(rec(1.0, calls)) == comparable(rec(7.0, later))  # the ledger as a multiset
    assert comparable(rec(1.0, calls), ledger_order=True) != comparable(rec(7.0, later), ledger_order=True)
    assert comparable(rec(1.0, calls), ledger_order=True) == comparable(rec(7.0, calls[:]), ledger_order=True)
    assert comparable(rec(1.0, calls)) != comparable(rec(1.0, calls[:1]))
    assert comparable(rec(1.0, calls, score=1)) != comparable(rec(1.0, calls, score=1.0))  # the trace as JSON


def test_points_are_grouped_by_everything_but_the_router(tmp_path):
    points = [compose(*BASE, f"router.tau={t}", f"data.limit={n}", f"run_dir={tmp_path / f'{n}-{t}'}")
              for n in (2, 3) for t in (0.3, 0.6)]
    assert [[p["run_dir"] for p in g] for g in group_points(points)] == [
        [str(tmp_path / "2-0.3"), str(tmp_path / "2-0.6")], [str(tmp_path / "3-0.3"), str(tmp_path / "3-0.6")]]
    same = [compose(*BASE, f"router.tau={t}", f"run_dir={tmp_path}") for t in (0.3, 0.6)]
    with pytest.raises(Exception, match="points share run dir"):
        group_points(same)


# -- the real CLI with the tiny model --------------------------------------------------------
def _cli(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    env = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_COUNT"):
        env.pop(k, None)
    return subprocess.run([sys.executable, "-m", "scale.cli.eval", *args], env=env, capture_output=True,
                          text=True, timeout=timeout, check=False)


@pytest.mark.tiny
def test_cli_shared_sweep_equals_the_multirun(tmp_path):
    """sweep=shared (one job, each plan computed once) writes the records the multirun writes,
    token for token. The shared job batches both points' calls together, the multirun each
    point's alone: in float64 (tests/helpers/exact.py), so rounding that depends on the batch
    cannot flip a token, and equal records prove the sharing logic."""
    common = ["experiment=debug", "data.limit=2", "runner.progress=false", "engine.dtype=float64"]
    shared = _cli(*common, "sweep=shared", "sweep.over=router.tau", "sweep.values=[0.3,0.95]",
                  f"run_dir={tmp_path}/shared/tau${{router.tau}}")
    assert shared.returncode == 0, shared.stderr[-3000:]
    multi = _cli("-m", *common, "router.tau=0.3,0.95", f"run_dir={tmp_path}/multi/tau${{router.tau}}")
    assert multi.returncode == 0, multi.stderr[-3000:]
    for t in (0.3, 0.95):
        assert records(tmp_path / "shared" / f"tau{t}") == records(tmp_path / "multi" / f"tau{t}")
        assert len(records(tmp_path / "shared" / f"tau{t}")) == 2
    refused = _cli("-m", *common, "sweep=shared", "router.tau=0.3,0.95", f"run_dir={tmp_path}/x/tau${{router.tau}}")
    assert refused.returncode == 2 and "sweep=shared runs the whole sweep in one job: drop -m" in refused.stderr


@pytest.mark.tiny
def test_cli_table2_experiment_runs_its_eight_taus_in_one_job(tmp_path):
    proc = _cli("experiment=table2_tau_sweep", "sweep=shared", "systems=tiny_qwen3", "data=demo", "data.limit=1",
                "n_samples=1", "method.n_outlines=2", "method.outline_max_tokens=16", "method.resample_rounds=0",
                "difficulty.max_new_tokens=4", "runner.progress=false", f"run_dir={tmp_path}/tau${{router.tau}}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    taus = [round(0.1 * i, 1) for i in range(2, 10)]
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"tau{t}" for t in taus]
    for t in taus:
        cfg = RunDir(tmp_path / f"tau{t}").read_config()
        assert (cfg["router"]["tau"], cfg["sweep"]["mode"], cfg["data"]["name"]) == (t, "none", "demo")
        assert RunDir(tmp_path / f"tau{t}").read_metrics().complete
    assert "sweep=shared: 8 points" in proc.stdout + proc.stderr


def test_metrics_come_back_in_the_callers_order_across_groups(tmp_path):
    """Points of two plan groups (data.limit 2 and 3), interleaved: each gets its own figures."""
    cfgs = [compose(*BASE, f"data.limit={limit}", f"router.tau={tau}",
                    f"run_dir={tmp_path / f'tau{tau}-n{limit}'}")
            for tau in (0.3, 0.6) for limit in (2, 3)]
    metrics, _ = run_shared_sweep(cfgs, systems=scripted_systems(engine()))
    assert [m.n_problems for m in metrics] == [2, 3, 2, 3]
