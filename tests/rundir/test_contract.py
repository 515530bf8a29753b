"""The run-dir contract: versioned records and metrics, torn lines, collection across shards."""

from __future__ import annotations

import json

import pytest

from scale.errors import DataError
from scale.rundir import SCHEMA_VERSION, Record, RecordWriter, RunDir, read_records
from scale.rundir.metrics import compute_metrics


def rec(pid: str, s: int = 0, answer: str | None = "1", error: dict | None = None) -> Record:
    return Record(problem_id=pid, sample_idx=s, method="scale", question="q?", gold="1", answer=answer,
                  correct=answer == "1", grade_reason="equal", error=error)


def test_record_round_trips_through_a_file(tmp_path):
    path = tmp_path / "records.jsonl"
    original = rec("a", 3, error={"kind": "engine", "message": "gone"})
    with RecordWriter(path) as w:
        w.write(original)
    (back,) = read_records(path)
    assert back == original and back.schema_version == SCHEMA_VERSION
    assert json.loads(path.read_text())["schema_version"] == SCHEMA_VERSION


def test_older_schema_is_refused_naming_file_and_version(tmp_path):
    path = tmp_path / "records.jsonl"
    old = rec("a").to_dict()
    del old["schema_version"]  # what runs written before the contract look like
    path.write_text(json.dumps(old) + "\n")
    with pytest.raises(DataError, match=r"records.jsonl:1: schema version 1, but this code reads version 2"):
        read_records(path)
    path.write_text(json.dumps({**old, "schema_version": 99}) + "\n")
    with pytest.raises(DataError, match="schema version 99"):
        read_records(path)


def test_wrong_field_type_and_unknown_field_are_named(tmp_path):
    path = tmp_path / "records.jsonl"
    path.write_text(json.dumps({**rec("a").to_dict(), "correct": "yes"}) + "\n")
    with pytest.raises(DataError, match=r"records.jsonl:1.correct: expected true/false, got 'yes'"):
        read_records(path)
    path.write_text(json.dumps({**rec("a").to_dict(), "colour": "red"}) + "\n")
    with pytest.raises(DataError, match="colour"):
        read_records(path)


def test_metrics_are_versioned_too(tmp_path):
    run = RunDir(tmp_path)
    metrics = compute_metrics([rec("a"), rec("b", answer="2")], expected_attempts=2)
    run.write_metrics(metrics)
    assert run.read_metrics() == metrics
    raw = json.loads(run.metrics.read_text())
    assert raw["schema_version"] == metrics.schema_version == SCHEMA_VERSION
    # one problem right, one wrong, both attempts finished
    assert (metrics.n_problems, metrics.n_attempts, metrics.complete, metrics.accuracy, metrics.n_errors) == (
        2, 2, True, 0.5, 0)
    raw["schema_version"] = 1
    run.metrics.write_text(json.dumps(raw))
    with pytest.raises(DataError, match="metrics.json: schema version 1"):
        run.read_metrics()


def test_torn_last_line_dropped_corrupt_middle_line_refused(tmp_path):
    path = tmp_path / "records.jsonl"
    with RecordWriter(path) as w:
        w.write(rec("a"))
    with path.open("a") as fh:
        fh.write('{"problem_id": "b", "sa')
    assert [r.key for r in read_records(path)] == [("a", 0)]
    with RecordWriter(path) as w:  # the writer repairs the tail before appending
        w.write(rec("b"))
    assert [r.key for r in read_records(path)] == [("a", 0), ("b", 0)]
    path.write_text(json.dumps(rec("a").to_dict()) + "\nnot json\n" + json.dumps(rec("b").to_dict()) + "\n")
    with pytest.raises(DataError, match="records.jsonl:2"):
        read_records(path)


def test_collect_across_shards_dedups_same_content_and_flags_conflicts(tmp_path):
    run = RunDir(tmp_path)
    with RecordWriter(run.shard_file(0, 2)) as w:
        w.write(rec("a"))
        w.write(rec("b"))
    with RecordWriter(run.shard_file(1, 2)) as w:
        w.write(rec("c"))
        w.write(rec("a"))  # same attempt, same content: a merge that was interrupted
    collected = run.collect()
    assert sorted(collected.records) == [("a", 0), ("b", 0), ("c", 0)] and not collected.conflicts
    with RecordWriter(run.records) as w:
        w.write(rec("c", answer="7"))  # same attempt, other content: computed twice
    assert run.collect().conflicts == [("c", 0)]


def test_a_retried_attempt_supersedes_its_error_record(tmp_path):
    run = RunDir(tmp_path)
    failed = rec("a", error={"kind": "engine", "message": "500"})
    with RecordWriter(run.records) as w:
        w.write(failed)
        w.write(rec("a"))
    assert run.collect().records[("a", 0)].error is None
    with RecordWriter(run.shard_file(1, 2)) as w:
        w.write(failed)  # an error elsewhere never beats a finished attempt
    assert run.collect().records[("a", 0)].error is None and not run.collect().conflicts


def test_of_two_error_records_the_later_stands_and_records_come_in_key_order(tmp_path):
    run = RunDir(tmp_path)
    first, later = ({"kind": "engine", "message": m} for m in ("500", "502"))
    with RecordWriter(run.records) as w:
        w.write(rec("b", 1))
        w.write(rec("a", error=first))
        w.write(rec("b", 0))
    with RecordWriter(run.shard_file(0, 2)) as w:
        w.write(rec("a", error=later))
    collected = run.collect()
    assert collected.records[("a", 0)].error == later and not collected.conflicts
    assert [r.key for r in collected.in_key_order()] == [("a", 0), ("b", 0), ("b", 1)]
    assert list(collected.records) == [("b", 1), ("a", 0), ("b", 0)]  # the dict keeps file order


def test_write_merged_replaces_shards_with_one_sorted_file(tmp_path):
    run = RunDir(tmp_path)
    with RecordWriter(run.shard_file(1, 2)) as w:
        w.write(rec("b"))
    with RecordWriter(run.shard_file(0, 2)) as w:
        w.write(rec("a"))
    run.done_marker(0, 2).write_text("ok\n")
    run.write_merged(run.collect().records.values())
    assert [r.key for r in read_records(run.records)] == [("a", 0), ("b", 0)]
    assert not run.shard_files() and not run.done_markers()


def test_not_a_run_dir(tmp_path):
    with pytest.raises(DataError, match="no config.json"):
        RunDir(tmp_path).read_config()
    with pytest.raises(DataError, match="no metrics.json"):
        RunDir(tmp_path).read_metrics()
