"""Bad input as a new user gives it (issue 24): one line and exit 2, or a healed file; never a
traceback, never finished work lost."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from scale.cli.report import main as report_main
from scale.rundir import read_records
from tests.helpers.eval_cli import eval_env, run_eval_cli


def one_line_error(proc, *names: str) -> str:
    """The single ``error: ...`` line of a refused command, which names every one of ``names``."""
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    for name in names:
        assert name in lines[0], lines[0]
    return lines[0]


@pytest.mark.tiny
def test_a_rerun_heals_a_torn_last_line_that_ends_with_a_newline(tmp_path):
    run = tmp_path / "D"
    assert run_eval_cli(run).returncode == 0
    records = run / "records.jsonl"
    kept = records.read_text().splitlines()[:1]  # one attempt done, the second torn mid-write
    records.write_text(kept[0] + '\n{"problem_id": "demo-apples", "sam\n')
    rerun = run_eval_cli(run)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert "1 attempts to run, 1 already done" in rerun.stdout + rerun.stderr
    lines = records.read_text().splitlines()
    assert len(lines) == 2 and all(json.loads(line) for line in lines)  # the torn line is gone
    assert len(read_records(records)) == 2
    again = run_eval_cli(run)  # and the run dir stays readable for every later command
    assert again.returncode == 0 and "0 attempts to run, 2 already done" in again.stdout + again.stderr


@pytest.fixture(scope="module")
def probe_run(tmp_path_factory) -> Path:
    """A finished probe run over scripted systems (tests/train/test_probe_and_traces.py)."""
    from tests.train.test_probe_and_traces import run

    return run(tmp_path_factory.mktemp("probe"), "probe", "method.probe=true")[0].path


def build_traces(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "scripts/build_traces.py", *args], capture_output=True, text=True,
                          timeout=300, check=False, env=eval_env())


def test_a_run_given_twice_to_build_traces_counts_once(probe_run, tmp_path):
    once = build_traces(str(probe_run), "--out", str(tmp_path / "once"))
    assert once.returncode == 0, once.stderr[-2000:]
    twice = build_traces(str(probe_run), f"{probe_run}/", "--out", str(tmp_path / "twice"))
    assert twice.returncode == 0, twice.stderr[-2000:]
    assert f"warning: {probe_run} given more than once; its records are counted once" in twice.stderr
    meta = [json.loads((tmp_path / t / "scale_traces.json").read_text()) for t in ("once", "twice")]
    assert meta[1]["balance"] == meta[0]["balance"] and len(meta[1]["sources"]) == 1
    assert once.stdout.splitlines()[:3] == twice.stdout.splitlines()[:3]  # the same rows in the same splits


@pytest.mark.parametrize(("args", "message"), [
    (["--val-fraction", "1.5"], "error: --val-fraction 1.5: must be at least 0 and below 1"),
    (["--test-fraction", "-0.1"], "error: --test-fraction -0.1: must be at least 0 and below 1"),
    (["--val-fraction", "0.5", "--test-fraction", "0.5"],
     "error: --val-fraction 0.5 + --test-fraction 0.5: must be below 1"),
])
def test_build_traces_refuses_fractions_that_leave_no_training_split(probe_run, tmp_path, args, message):
    proc = build_traces(str(probe_run), "--out", str(tmp_path / "t"), *args)
    assert one_line_error(proc).startswith(message)
    assert not (tmp_path / "t").exists()


def test_build_traces_warns_when_the_training_split_is_small(probe_run, tmp_path):
    proc = build_traces(str(probe_run), "--out", str(tmp_path / "t"), "--val-fraction", "0.45",
                        "--test-fraction", "0.45")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "warning: the training split holds 2 of 12 problems" in proc.stderr


@pytest.mark.parametrize("inside", ["", "tables"])
def test_build_traces_and_a_report_never_write_into_a_run_dir(probe_run, tmp_path, capsys, inside):
    out = probe_run / inside if inside else probe_run
    before = {p: p.read_bytes() for p in probe_run.rglob("*") if p.is_file()}
    assert report_main([str(probe_run), "--out", str(out), "--no-plots"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"error: --out {out}: is {'inside ' if inside else ''}the run dir {probe_run}; "
                   "choose a folder outside the run dirs")
    proc = build_traces(str(probe_run), "--out", str(out), "--overwrite")
    assert one_line_error(proc, f"--out {out}", str(probe_run))
    above = build_traces(str(probe_run), "--out", str(probe_run.parent), "--overwrite")  # would rmtree the run
    assert one_line_error(above, f"--out {probe_run.parent}: holds the run dir {probe_run}")
    assert {p: p.read_bytes() for p in probe_run.rglob("*") if p.is_file()} == before
