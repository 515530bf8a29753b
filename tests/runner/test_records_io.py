"""Records as the runner writes them at speed (issue 22): the fast line equals the dataclass
dump byte for byte, and the writer's durability (flushed per record, fsynced at most once per
interval and at close) — real SCALE records from the simulated server over HTTP."""

from __future__ import annotations

import json
import os
import time

import pytest

from scale.rundir import Record, RecordWriter
from scale.runner.run import run_eval
from scale.testing.config import compose
from scale.testing.sim_server import SimProcess, sim_question


@pytest.fixture(scope="module")
def scale_records(tmp_path_factory):
    """A small SCALE cell (the Table 1 config: outlines, steps, scores) against the sim server."""
    tmp = tmp_path_factory.mktemp("scale-cell")
    data = tmp / "sim.jsonl"
    data.write_text("".join(json.dumps({"id": f"p{i}", "question": sim_question(i, str(i)), "answer": str(i)})
                            + "\n" for i in range(3)))
    seen: list[Record] = []
    with SimProcess(profile="scale", time_scale=1000, length_scale=0.02) as sim:
        cfg = compose("experiment=table1/qwen3_32b_scale_aime24", f"data.path={data}", "engine=openai",
                      "n_samples=2", f"run_dir={tmp / 'run'}", "runner.progress=false")
        cfg["systems"]["engines"]["main"]["base_url"] = sim.url
        run_eval(cfg, on_record=seen.append)
    return seen, tmp / "run" / "records.jsonl"


def test_a_record_line_is_the_dataclass_dump(scale_records, single_process):
    seen, path = scale_records
    assert len(seen) == 6 and all(r.error is None and r.ledger and r.trace for r in seen)
    for rec in seen:
        assert rec.to_json() == json.dumps(rec.to_dict(), ensure_ascii=False)
    by_key = {r.key: r.to_json() for r in seen}
    lines = path.read_text(encoding="utf-8").splitlines()
    assert sorted(lines) == sorted(by_key.values())  # the merged file holds exactly those lines


def test_the_writer_flushes_every_record_and_fsyncs_per_interval(tmp_path, scale_records, monkeypatch):
    seen, _ = scale_records
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd))[1])
    path = tmp_path / "records.jsonl"
    with RecordWriter(path, sync_every_s=3600) as w:
        for rec in seen:
            w.write(rec)
            # Another process (a rerun after kill -9) reads every finished record: flushed to the OS.
            assert path.read_text(encoding="utf-8").count("\n") == seen.index(rec) + 1
        assert synced == []  # none yet: the interval has not passed
    assert len(synced) == 1  # at close
    synced.clear()
    with RecordWriter(path, sync_every_s=0.05) as w:
        w.write(seen[0])
        time.sleep(0.06)
        w.write(seen[1])  # the interval has passed: this write syncs
        assert len(synced) == 1
    assert len(synced) == 2
