"""The runner's bookkeeping over a scripted engine: failed attempts, retries, shards, finalize.

(Real models, kill -9 and ``accelerate launch``: test_resume_and_shards.py.)
"""

from __future__ import annotations

import json
import re

import pytest

from scale.cli.finalize import main as finalize_main
from scale.data import load_benchmark
from scale.errors import ConfigError, DataError, EngineError
from scale.rundir import Record, RunDir, read_records
from scale.runner.finalize import IncompleteRun, finalize
from scale.runner.run import ErrorBudget, TooManyErrors, fatal, run_eval
from scale.testing import Rule, ScriptedEngine, scripted_systems
from scale.testing.config import compose
from tests.helpers.shard_env import clear_shard_env

PROBLEMS = load_benchmark("demo", limit=5)


@pytest.fixture(autouse=True)
def single_process(monkeypatch):
    return clear_shard_env(monkeypatch)


def engine(*failing: int, error: Exception | None = None) -> ScriptedEngine:
    """Answers every stage; solving problem i (for i in ``failing``) raises ``error``."""
    fail = [Rule(stage="solve", pattern=re.escape(PROBLEMS[i].question[:40]),
                 error=error or EngineError("HTTP 500 after 4 retries")) for i in failing]
    return ScriptedEngine([
        *fail,
        Rule(stage="decompose", reply=json.dumps({"step1": "Find the total", "step2": "Answer"})),
        Rule(stage="select", reply="Outline 1"),
        Rule(stage="score", reply="0.3"),
        Rule(stage="solve", reply=right_answer),
    ])


def right_answer(request) -> str:
    text = json.dumps(request.messages)
    (problem,) = [p for p in PROBLEMS if json.dumps(p.question[:40])[1:-1] in text]
    return f"so \\boxed{{{problem.answer}}}"


def config(run_dir, *overrides: str) -> dict:
    return compose("experiment=debug", "data.limit=5", f"run_dir={run_dir}", "runner.progress=false",
                   *overrides)


def solved(eng: ScriptedEngine) -> set[str]:
    """Problems whose steps this engine was asked to solve."""
    return {p.id for p in PROBLEMS for r in eng.sent("solve")
            if json.dumps(p.question[:40])[1:-1] in json.dumps(r.messages)}


def test_a_failed_attempt_is_recorded_and_a_retry_redoes_only_it(tmp_path):
    run_dir = tmp_path / "run"
    metrics = run_eval(config(run_dir), systems=scripted_systems(engine(2)))
    records = read_records(run_dir / "records.jsonl")
    assert len(records) == 5 and metrics.complete
    (failed,) = [r for r in records if r.error is not None]
    assert failed.problem_id == PROBLEMS[2].id and not failed.correct
    assert failed.error == {"kind": "engine", "message": "HTTP 500 after 4 retries"}
    assert metrics.n_errors == 1 and metrics.errors == {"engine": 1}
    assert metrics.accuracy == pytest.approx(4 / 5) and metrics.accuracy_completed == 1.0
    # A plain rerun finds nothing to do; retry_errors=true redoes only the failed attempt.
    again = engine()
    run_eval(config(run_dir), systems=scripted_systems(again))
    assert solved(again) == set()
    retry = engine()
    metrics = run_eval(config(run_dir, "runner.retry_errors=true"), systems=scripted_systems(retry))
    assert solved(retry) == {PROBLEMS[2].id}
    assert metrics.n_errors == 0 and metrics.n_attempts == 5
    assert all(r.error is None for r in read_records(run_dir / "records.jsonl"))


def test_too_many_errors_stop_the_run_with_one_line(tmp_path):
    run_dir = tmp_path / "run"
    with pytest.raises(TooManyErrors) as err:
        run_eval(config(run_dir, "runner.max_concurrency=1"), systems=scripted_systems(engine(0, 1, 3)))
    line = str(err.value)
    assert "\n" not in line and "max_error_fraction=0.2" in line
    assert "commonest error (2x) engine: HTTP 500 after 4 retries" in line
    assert line == ("stopping: 2 of 5 attempts failed (runner.max_error_fraction=0.2); "
                    "commonest error (2x) engine: HTTP 500 after 4 retries")
    kept = read_records(run_dir / "records.jsonl")  # finished work is not lost
    assert len(kept) >= 2 and sum(r.error is not None for r in kept) == 2


def _error(problem: str, kind: str = "engine", message: str = "HTTP 500") -> Record:
    return Record(problem_id=problem, sample_idx=0, method="scale", question="q", gold="1", answer=None,
                  correct=False, grade_reason="error", error={"kind": kind, "message": message})


def test_the_error_budget_counts_error_records_and_names_the_commonest():
    """One budget for run_eval and each point of a shared sweep (which names its run dir)."""
    budget = ErrorBudget(n_items=10, max_fraction=0.2)
    ok = Record(problem_id="a", sample_idx=0, method="scale", question="q", gold="1", answer="1",
                correct=True, grade_reason="equal")
    for rec in (ok, _error("a"), ok, _error("b", "timeout", "slow")):
        budget.add(rec)  # 2 of 10 failed: within 0.2
    assert budget.errors == {("engine", "HTTP 500"): 1, ("timeout", "slow"): 1}
    with pytest.raises(TooManyErrors) as err:
        budget.add(_error("c"))
    assert str(err.value) == ("stopping: 3 of 10 attempts failed (runner.max_error_fraction=0.2); "
                              "commonest error (2x) engine: HTTP 500")
    point = ErrorBudget(n_items=4, max_fraction=0.0, where="runs/tau0.3")
    with pytest.raises(TooManyErrors) as err:
        point.add(_error("a", "ValueError", "bad"))
    assert str(err.value) == ("stopping: 1 of 4 attempts of runs/tau0.3 failed (runner.max_error_fraction=0.0); "
                              "commonest error (1x) ValueError: bad")


def test_only_config_and_data_errors_are_fatal_to_the_run():
    assert fatal(ConfigError("x")) and fatal(DataError("x"))
    assert not fatal(EngineError("x")) and not fatal(ValueError("x")) and not fatal(TimeoutError())


def test_a_config_error_inside_an_attempt_stops_at_once(tmp_path):
    with pytest.raises(ConfigError, match="broken"):
        run_eval(config(tmp_path / "run"), systems=scripted_systems(engine(1, error=ConfigError("broken"))))


def test_the_tracker_gets_the_records_finalize_merged(tmp_path, monkeypatch):
    """logger=...: the records finalize read are handed on, not read from the run dir again."""
    pytest.importorskip("wandb")
    from scale.tracking.wandb_logger import WandbLogger

    seen: dict = {}

    def log_run(self, cfg, run_dir, metrics, records=None):
        seen.update(cfg=cfg, run_dir=run_dir, metrics=metrics, records=records)

    monkeypatch.setattr(WandbLogger, "log_run", log_run)
    cfg = config(tmp_path / "run", "logger=wandb")
    metrics = run_eval(cfg, systems=scripted_systems(engine()))
    assert seen["cfg"] == cfg and seen["run_dir"] == tmp_path / "run" and seen["metrics"] == metrics
    merged = read_records(tmp_path / "run" / "records.jsonl")
    assert seen["records"] == merged and [r.key for r in merged] == sorted(r.key for r in merged)


def test_array_shards_then_finalize_equal_one_process(tmp_path, single_process):
    reference = tmp_path / "single"
    run_eval(config(reference), systems=scripted_systems(engine()))
    run_dir = tmp_path / "array"
    single_process.setenv("SLURM_ARRAY_TASK_COUNT", "2")
    single_process.setenv("SLURM_ARRAY_TASK_ID", "1")
    assert run_eval(config(run_dir), systems=scripted_systems(engine())) is None  # tasks never merge
    assert not (run_dir / "metrics.json").exists()
    with pytest.raises(IncompleteRun, match=r"3 of 5 attempts have no record: demo-"):
        finalize(run_dir)
    assert finalize_main([str(run_dir)]) == 1
    single_process.setenv("SLURM_ARRAY_TASK_ID", "0")
    run_eval(config(run_dir), systems=scripted_systems(engine()))
    assert finalize_main([str(run_dir)]) == 0
    merged = read_records(run_dir / "records.jsonl")
    assert not RunDir(run_dir).shard_files()
    ref = read_records(reference / "records.jsonl")
    assert [(r.key, r.answer, r.trace) for r in merged] == [(r.key, r.answer, r.trace) for r in ref]
    assert (run_dir / "report.md").read_text().count("| accuracy |") == 1


def test_a_single_process_rerun_counts_work_done_in_shard_files(tmp_path, single_process):
    run_dir = tmp_path / "run"
    single_process.setenv("SLURM_ARRAY_TASK_COUNT", "2")
    single_process.setenv("SLURM_ARRAY_TASK_ID", "0")
    run_eval(config(run_dir), systems=scripted_systems(engine()))
    for key in ("SLURM_ARRAY_TASK_COUNT", "SLURM_ARRAY_TASK_ID"):
        single_process.delenv(key)
    rest = engine()
    metrics = run_eval(config(run_dir), systems=scripted_systems(rest))
    assert solved(rest) == {PROBLEMS[1].id, PROBLEMS[3].id}  # shard 0 did problems 0, 2, 4
    assert metrics.complete and metrics.n_attempts == 5
    keys = [r.key for r in read_records(run_dir / "records.jsonl")]
    assert keys == sorted({(p.id, 0) for p in PROBLEMS})


def test_finalize_names_conflicting_attempts(tmp_path):
    run_dir = tmp_path / "run"
    run_eval(config(run_dir), systems=scripted_systems(engine()))
    rec = read_records(run_dir / "records.jsonl")[0]
    rec.answer = "different"
    with (run_dir / "records.shard0001-of-0002.jsonl").open("w") as fh:
        fh.write(json.dumps(rec.to_dict()) + "\n")
    with pytest.raises(Exception, match=f"recorded twice with different content: {rec.problem_id}#0"):
        finalize(run_dir)


@pytest.mark.parametrize("router", ["router=fraction", "router=random router.fraction=0.5"])
def test_a_failure_before_routing_does_not_hang_a_dataset_wide_router(tmp_path, router):
    """The failed attempt never routes: the others must not wait for it forever."""
    eng = engine()
    eng.rules.insert(0, Rule(stage="decompose", pattern=re.escape(PROBLEMS[1].question[:40]),
                             error=EngineError("HTTP 500 after 4 retries")))
    cfg = config(tmp_path / "run", *router.split(), "runner.max_error_fraction=0.5")
    metrics = run_eval(cfg, systems=scripted_systems(eng))  # a hang here is the bug
    assert metrics.n_attempts == 5 and metrics.errors == {"engine": 1}
    assert metrics.s2_fraction > 0  # the other four routed


def test_a_done_marker_of_an_earlier_launch_does_not_count(tmp_path):
    from scale.runner.finalize import wait_for_shards

    run = RunDir(tmp_path)
    run.done_marker(0, 2).write_text("launch-B\n")
    run.done_marker(1, 2).write_text("launch-A\n")  # rank 1 finished in the earlier launch A
    with pytest.raises(IncompleteRun, match="only 1 of 2 ranks finished"):
        wait_for_shards(run, 2, "launch-B", timeout_s=1.5)
    run.done_marker(1, 2).write_text("launch-B\n")
    wait_for_shards(run, 2, "launch-B", timeout_s=1.5)


def test_a_dataset_wide_router_refuses_to_run_as_a_shard(tmp_path, single_process):
    single_process.setenv("SLURM_ARRAY_TASK_COUNT", "2")
    single_process.setenv("SLURM_ARRAY_TASK_ID", "0")
    with pytest.raises(ConfigError, match="dataset-wide router .* shard 0 of 2 .*run it as one process"):
        run_eval(config(tmp_path / "run", "router=fraction"), systems=scripted_systems(engine()))


def test_overwrite_under_shards_clears_only_each_shards_own_file(tmp_path, single_process):
    run_dir = tmp_path / "run"
    single_process.setenv("SLURM_ARRAY_TASK_COUNT", "2")
    for task in ("0", "1"):
        single_process.setenv("SLURM_ARRAY_TASK_ID", task)
        run_eval(config(run_dir), systems=scripted_systems(engine()))
    single_process.setenv("SLURM_ARRAY_TASK_ID", "1")
    again = engine()
    run_eval(config(run_dir, "overwrite=true"), systems=scripted_systems(again))
    assert solved(again) == {PROBLEMS[1].id, PROBLEMS[3].id}  # redone, nothing old read
    assert len(read_records(RunDir(run_dir).shard_file(0, 2))) == 3  # task 0's file untouched
    assert finalize_main([str(run_dir)]) == 0


def test_resuming_with_another_adapter_or_dtype_is_refused(tmp_path):
    """Records of a base model and of base + adapter must never mix in one run dir."""
    run_dir = tmp_path / "run"
    run_eval(config(run_dir), systems=scripted_systems(engine()))
    for override, key in (("engine.adapter=/some/lora", "engine.adapter"), ("engine.dtype=bfloat16", "engine.dtype")):
        with pytest.raises(ConfigError, match=f"different '{key}'"):
            run_eval(config(run_dir, override), systems=scripted_systems(engine()))
    run_eval(config(run_dir, "engine.max_batch_size=4"), systems=scripted_systems(engine()))  # batching may change
