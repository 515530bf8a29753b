"""The torn-line rule the reader and the writer share (scale.rundir.files.is_torn)."""

from __future__ import annotations

import json

import pytest

from scale.errors import DataError
from scale.rundir import RecordWriter, read_records
from tests.rundir.test_contract import rec


@pytest.mark.parametrize("tail", [b'{"problem_id": "b", "sa', b'{"problem_id": "b", "sa\n', b'{"problem_id": "b", "sa\n\n  \n',
                                  '{"problem_id": "é'.encode()[:-1] + b"\n"])  # cut inside a UTF-8 character
def test_a_torn_last_line_is_dropped_by_the_reader_and_cut_by_the_writer(tmp_path, tail):
    path = tmp_path / "records.jsonl"
    with RecordWriter(path) as w:
        w.write(rec("a"))
    with path.open("ab") as fh:
        fh.write(tail)
    assert [r.key for r in read_records(path)] == [("a", 0)]
    with RecordWriter(path) as w:  # a rerun heals the file: its records follow the intact ones
        w.write(rec("b"))
    assert [r.key for r in read_records(path)] == [("a", 0), ("b", 0)]
    assert path.read_bytes().count(b"\n") == 2


def test_an_intact_last_line_without_its_newline_is_kept(tmp_path):
    path = tmp_path / "records.jsonl"
    path.write_text(json.dumps(rec("a").to_dict()))  # killed between the object and its newline
    assert [r.key for r in read_records(path)] == [("a", 0)]
    with RecordWriter(path) as w:
        w.write(rec("b"))
    assert [r.key for r in read_records(path)] == [("a", 0), ("b", 0)]


def test_only_the_last_line_can_be_torn(tmp_path):
    path = tmp_path / "records.jsonl"
    path.write_bytes(b'{"problem_id": "a\n' + json.dumps(rec("b").to_dict()).encode() + b"\n")
    with pytest.raises(DataError, match=r"records.jsonl:1: corrupt record line \(not JSON\)"):
        read_records(path)
