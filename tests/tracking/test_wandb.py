"""logger=wandb logs a finished run offline; logger=none never imports wandb; a tracker that
fails leaves the run complete (a warning, not an error)."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time

import pytest

from scale.errors import ConfigError
from scale.rundir import RunDir
from scale.runner.run import run_eval
from scale.testing import Rule, ScriptedEngine, scripted_systems
from scale.testing.config import compose


@pytest.fixture(autouse=True)
def _quiet_single_process(single_process):
    single_process.setenv("WANDB_SILENT", "true")


def _engine() -> ScriptedEngine:
    return ScriptedEngine([
        Rule(stage="decompose", reply=json.dumps({"step1": "Count the items", "step2": "Answer"})),
        Rule(stage="select", reply="Outline 1"),
        Rule(stage="score", reply="0.7"),
        Rule(stage="solve", reply="so \\boxed{15}", reasoning="thinking hard"),
    ])


def _run(run_dir, *overrides):
    cfg = compose("experiment=debug", f"run_dir={run_dir}", "runner.progress=false", *overrides)
    return run_eval(cfg, systems=scripted_systems(_engine()))


def test_wandb_offline_logs_config_metrics_attempts_and_figures(tmp_path):
    run_dir = tmp_path / "run"
    metrics = _run(run_dir, "logger=wandb")
    assert metrics is not None and metrics.n_attempts == 3
    (offline,) = (run_dir / "wandb").glob("offline-run-*")
    (binary,) = offline.glob("run-*.wandb")
    # wandb's service process writes the binary log after run.finish() returns: wait for it.
    deadline = time.time() + 60
    while str(run_dir).encode() not in (data := binary.read_bytes()) and time.time() < deadline:
        time.sleep(0.5)
    assert str(run_dir).encode() in data  # the resolved config
    assert b"accuracy_ci95_lo" in data and b"s2_fraction" in data  # the metrics
    (table,) = (offline / "files" / "media" / "table").glob("attempts_*.table.json")
    rows = json.loads(table.read_text())
    records = sorted(RunDir(run_dir).collect().records.values(), key=lambda r: r.key)
    assert rows["columns"][:5] == ["problem", "sample", "answer", "gold", "correct"]
    assert [r[:5] for r in rows["data"]] == [[r.problem_id, r.sample_idx, r.answer, r.gold, r.correct]
                                             for r in records]
    assert [r[7] for r in rows["data"]] == [1.0, 1.0, 1.0]  # both steps scored 0.7 > tau 0.5 (last pinned 0.9)
    images = sorted(p.name.split("_")[0] for p in (offline / "files" / "media" / "images").rglob("*.png"))
    assert len(images) >= 2, images


def test_a_bad_logger_setting_stops_the_run_before_it_starts(tmp_path):
    with pytest.raises(ConfigError, match="logger.mode must be one of"):
        _run(tmp_path / "run", "logger=wandb", "logger.mode=sometimes")
    assert not (tmp_path / "run" / "records.jsonl").exists()  # nothing was run


def test_a_logger_that_fails_at_the_end_is_a_warning_and_the_run_is_complete(tmp_path, caplog, monkeypatch):
    import wandb

    def down(*args, **kwargs):
        raise ConnectionError("wandb is down")

    monkeypatch.setattr(wandb, "init", down)  # fault injection: the tracker fails, the run must not
    with caplog.at_level(logging.WARNING, logger="scale.tracking"):
        metrics = _run(tmp_path / "run", "logger=wandb")
    assert metrics is not None and RunDir(tmp_path / "run").read_metrics().complete
    assert "logger wandb failed (the run dir is complete): ConnectionError: wandb is down" in caplog.text


def test_logger_none_never_imports_wandb(tmp_path):
    code = (
        "import sys, json\n"
        "from scale.runner.run import run_eval\n"
        "from scale.testing import Rule, ScriptedEngine, scripted_systems\n"
        "from scale.testing.config import compose\n"
        f"cfg = compose('experiment=debug', 'run_dir={tmp_path / 'run'}', 'runner.progress=false', 'logger=none')\n"
        "eng = ScriptedEngine([Rule(stage='decompose', reply='{}'), Rule(stage='solve', reply='\\\\boxed{1}')])\n"
        "assert run_eval(cfg, systems=scripted_systems(eng)).n_attempts == 3\n"
        "print('wandb' in sys.modules)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == "False"
    assert compose("experiment=debug")["logger"] == {"name": "none"}
    assert compose("logger=wandb", "logger.mode=online")["logger"]["mode"] == "online"
