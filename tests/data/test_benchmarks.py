"""Benchmark loaders on the real files in ../shared/data, and their one-line errors."""

from __future__ import annotations

import json

import pytest

from scale.data import BENCHMARKS, load_benchmark
from tests.helpers.data_errors import load_error as _err

EXPECTED = {
    "aime24": 30,
    "aime25": 30,
    "amc23": 40,
    "math500": 500,
    "gsm8k": 1319,
    "gsm8k_train": 7473,
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_shared_file_loads_with_expected_rows(shared_data, name):
    problems = load_benchmark(name)
    assert len(problems) == EXPECTED[name] == BENCHMARKS[name].expected_rows
    assert all(p.question and p.answer for p in problems)
    assert len({p.id for p in problems}) == len(problems)


def test_gold_answers_are_normalised(shared_data):
    amc = load_benchmark("amc23")
    assert amc[0].answer == "27"  # stored as the float 27.0
    gsm = load_benchmark("gsm8k")
    assert gsm[0].answer == "18"  # "... #### 18"
    assert all("####" not in p.answer and "," not in p.answer for p in gsm)
    aime = load_benchmark("aime25")
    assert aime[0].answer == "70"


def test_fields_mapped_per_set(shared_data):
    # amc23 has both "problem" and "question"; gsm8k has only "question"; math500 LaTeX answers.
    assert load_benchmark("amc23")[0].question.startswith("Cities $A$ and $B$")
    assert load_benchmark("gsm8k")[0].question.startswith("Janet")
    m = load_benchmark("math500", limit=3)
    assert len(m) == 3 and m[0].meta["subject"]
    assert m[0].id.startswith("math500-test/")


def test_demo_set_ships_with_package():
    demo = load_benchmark("demo")
    assert len(demo) == 10
    assert all(p.answer.lstrip("-").isdigit() for p in demo)


def test_local_path_overrides_source(tmp_path):
    f = tmp_path / "mine.jsonl"
    f.write_text('{"problem": "1+1?", "answer": 2}\n\n{"problem": "2+2?", "answer": "4"}\n')
    problems = load_benchmark(path=f)
    assert [p.answer for p in problems] == ["2", "4"]
    assert [p.id for p in problems] == ["mine-1", "mine-3"]  # the file's name, line numbers
    # A local copy of a named set: its own fields are read, its name labels the problems.
    g = tmp_path / "gsm.jsonl"
    g.write_text(json.dumps({"question": "q", "answer": "work\n#### 1,234"}) + "\n")
    (problem,) = load_benchmark("gsm8k", path=g)
    assert (problem.answer, problem.id) == ("1234", "gsm-1")


def test_field_map_comes_from_the_first_row(tmp_path):
    f = tmp_path / "mixed.jsonl"
    f.write_text('{"problem": "1+1?", "answer": 2}\n{"question": "2+2?", "answer": "4"}\n')
    assert _err(path=f) == f"{f}:2: missing field 'problem'"


def test_missing_file_names_the_file(tmp_path):
    assert str(tmp_path / "nope.jsonl") in _err(path=tmp_path / "nope.jsonl")


def test_malformed_json_names_file_and_line(tmp_path):
    f = tmp_path / "bad.jsonl"
    f.write_text('{"problem": "a", "answer": "1"}\n{"problem": "b", "answer": \n')
    assert f"{f}:2: malformed JSON" in _err(path=f)


def test_missing_field_names_line_and_field(tmp_path):
    f = tmp_path / "nofield.jsonl"
    f.write_text('{"problem": "a", "answer": "1"}\n{"problem": "b"}\n')
    assert _err(path=f) == f"{f}:2: missing field 'answer'"
    g = tmp_path / "noq.jsonl"
    g.write_text('{"answer": "1"}\n')
    msg = _err(path=g)
    assert "noq.jsonl:1: missing field 'problem' (also tried 'question', 'prompt')" in msg
    assert "the row has 'answer'" in msg and "data.fields.question=NAME" in msg


def test_non_object_row(tmp_path):
    f = tmp_path / "list.jsonl"
    f.write_text("[1, 2]\n")
    assert f"{f}:1: expected a JSON object" in _err(path=f)


def test_unknown_benchmark_is_named():
    msg = _err(name="aime99")
    assert "'aime99'" in msg and "aime24" in msg


def test_bad_limit():
    assert "data.limit" in _err(name="demo", limit=0)
