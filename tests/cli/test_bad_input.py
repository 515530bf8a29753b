"""Bad input as a new user gives it (issue 24): one line and exit 2, or a healed file; never a
traceback, never finished work lost."""

from __future__ import annotations

import json

import pytest

from scale.rundir import read_records
from tests.helpers.eval_cli import run_eval_cli


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
