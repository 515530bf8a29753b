"""``data.path=FILE``: the file's own fields, its formats, pre-split rows, repeated rows, errors.

.venv/bin/python -m pytest tests/data -q
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from scale.data import load_benchmark, load_from_config
from tests.helpers.data_errors import load_error as _err

SHARED = ["aime24", "aime25", "amc23", "math500", "gsm8k", "gsm8k_train"]


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


# --- the shared benchmark files, read as users' files ------------------------------------------


@pytest.mark.parametrize("name", SHARED)
def test_shared_file_by_path_matches_the_registered_set(shared_data, name):
    by_name = load_benchmark(name)
    by_path = load_benchmark(path=shared_data / f"{name}.jsonl")
    assert [(p.question, p.answer) for p in by_path] == [(p.question, p.answer) for p in by_name]
    assert all(p.id.startswith(f"{name}-") for p in by_path)
    assert len({p.id for p in by_path}) == len(by_path)


def test_readme_example_data_path_with_the_default_name(shared_data, caplog):
    # The node as configs/data/math500.yaml gives it with data.path set (see test_config_node).
    node = {
        "name": "math500",
        "path": str(shared_data / "math500.jsonl"),
        "limit": 3,
        "fields": {"question": None, "answer": None, "id": None, "condition": None},
    }
    with caplog.at_level(logging.INFO, logger="scale.data.load"):
        problems = load_from_config(node)
    assert [p.id for p in problems] == [
        "math500-test/precalculus/807.json",
        "math500-test/intermediate_algebra/1994.json",
        "math500-test/algebra/2584.json",
    ]
    assert problems[0].answer == "\\left( 3, \\frac{\\pi}{2} \\right)"
    assert problems[0].meta["subject"] == "Precalculus" and "solution" in problems[0].meta
    mapping = [r.getMessage() for r in caplog.records if "fields question=" in r.getMessage()]
    assert len(mapping) == 1, mapping  # printed once
    assert "question='problem' answer='answer' id='unique_id'" in mapping[0]
    assert "detected from the first row" in mapping[0]


def test_the_default_name_with_a_path_reads_the_file_not_demo(shared_data):
    problems = load_from_config(
        {"name": "demo", "path": str(shared_data / "gsm8k.jsonl"), "limit": 2}
    )
    assert problems[0].question.startswith("Janet")
    assert problems[0].answer == "18"


# --- detection and data.fields ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("row", "question", "answer", "ident"),
    [
        ({"problem": "p", "answer": "1", "id": 7}, "p", "1", "t-7"),
        ({"question": "q", "solution": "so \\boxed{2}", "unique_id": "u"}, "q", "2", "t-u"),
        ({"prompt": "r", "expected_answer": 3, "idx": 0}, "r", "3", "t-0"),
        ({"problem": "p", "question": "q", "answer": "4"}, "p", "4", "t-1"),
        ({"prompt": "r", "answer": "5", "solution": "long"}, "r", "5", "t-1"),
    ],
)
def test_detected_fields(tmp_path, row, question, answer, ident):
    (p,) = load_benchmark(path=_jsonl(tmp_path / "t.jsonl", [row]))
    assert (p.question, p.answer, p.id) == (question, answer, ident)


def test_fields_given_in_the_config(tmp_path, caplog):
    f = _jsonl(
        tmp_path / "own.jsonl",
        [
            {"q": "What is 6*7?", "gold": "42", "key": "a"},
            {"q": "What is 1+1?", "gold": "2", "key": "b"},
        ],
    )
    assert "pass data.fields.question=NAME" in _err(path=f)
    with caplog.at_level(logging.INFO, logger="scale.data.load"):
        problems = load_from_config(
            {"path": str(f), "fields": {"question": "q", "answer": "gold", "id": "key"}}
        )
    assert [(p.id, p.question, p.answer) for p in problems] == [
        ("own-a", "What is 6*7?", "42"),
        ("own-b", "What is 1+1?", "2"),
    ]
    assert any("data.fields: answer, id, question" in r.getMessage() for r in caplog.records)


def test_a_given_field_overrides_detection(tmp_path):
    f = _jsonl(tmp_path / "t.jsonl", [{"problem": "long", "short": "s", "answer": "1"}])
    (p,) = load_benchmark(path=f, fields={"question": "short"})
    assert p.question == "s" and p.meta == {"problem": "long"}


def test_a_given_field_that_is_not_there(tmp_path):
    f = _jsonl(tmp_path / "t.jsonl", [{"problem": "p", "answer": "1"}])
    msg = _err(path=f, fields={"answer": "gold"})
    assert msg == (
        f"{f}:1: data.fields.answer='gold' is not a field of the first row "
        "(it has 'problem', 'answer')"
    )


def test_unknown_fields_key(tmp_path):
    f = _jsonl(tmp_path / "t.jsonl", [{"problem": "p", "answer": "1"}])
    assert "unknown key data.fields.questoin" in _err(path=f, fields={"questoin": "p"})


def test_solution_without_a_final_answer(tmp_path):
    f = _jsonl(tmp_path / "t.jsonl", [{"problem": "p", "solution": "we reason at length"}])
    msg = _err(path=f)
    assert msg.startswith(f"{f}:1: field 'solution' marks no final answer")


# --- pre-split rows (the SCALE authors' format) --------------------------------------------------


def test_pre_split_rows_keep_condition_and_final_question(tmp_path):
    rows = [
        {
            "id": 1,
            "problem": "Tom has 3 apples and buys 4. How many now?",
            "conditions": "Tom has 3 apples and buys 4.",
            "question": "How many now?",
            "answer": 7,
        },
        {
            "id": 2,
            "condition": ["A box holds 5.", "There are 2 boxes."],
            "question": "How many in all?",
            "answer": "10",
        },
    ]
    f = tmp_path / "split.jsonl"
    f.write_text(json.dumps(rows[0]) + "\n", encoding="utf-8")
    (p,) = load_benchmark(path=f)
    assert p.question == "Tom has 3 apples and buys 4. How many now?"
    assert p.condition == "Tom has 3 apples and buys 4."
    assert p.final_question == "How many now?"
    assert p.meta == {"id": 1}
    g = _jsonl(tmp_path / "split2.jsonl", [rows[1]])
    (q,) = load_benchmark(path=g)
    assert q.question == "A box holds 5. There are 2 boxes. How many in all?"
    assert (q.condition, q.final_question) == (
        "A box holds 5. There are 2 boxes.",
        "How many in all?",
    )


def test_a_pre_split_rows_own_problem_text_is_the_problem(tmp_path):
    # The authors' stages before solving (decompose, select, score) and CoT read `problem` as
    # written, not the condition and question joined: a rewrite that differs must not leak in.
    row = {
        "id": 1,
        "problem": "Tom holds 3 apples, then buys 4 more. How many apples now?",
        "conditions": "Tom has 3 apples and buys 4.",
        "question": "How many now?",
        "answer": 7,
    }
    (p,) = load_benchmark(path=_jsonl(tmp_path / "t.jsonl", [row]))
    assert p.question == row["problem"]
    assert (p.condition, p.final_question) == (row["conditions"], row["question"])
    assert "problem" not in p.meta
    empty = dict(row, id=2, conditions="")  # no givens: an ordinary row, its problem text
    (q,) = load_benchmark(path=_jsonl(tmp_path / "u.jsonl", [empty]))
    assert (q.question, q.condition, q.final_question) == (row["problem"], None, None)


def test_condition_without_a_final_question_is_not_used(tmp_path):
    f = _jsonl(tmp_path / "t.jsonl", [{"problem": "Full text?", "condition": "Full", "answer": 1}])
    (p,) = load_benchmark(path=f)
    assert (p.question, p.condition, p.final_question) == ("Full text?", None, None)
    assert p.meta == {"condition": "Full"}


def test_ordinary_rows_have_no_parts(shared_data):
    p = load_benchmark(path=shared_data / "aime25.jsonl", limit=1)[0]
    assert p.condition is None and p.final_question is None


# --- other shapes: JSON array, Parquet, save_to_disk, repeated rows ----------------------------

ROWS = [
    {"problem": "1+1?", "answer": 2},
    {"problem": "Half of 3?", "answer": 1.5},
    {"problem": "AMC style", "answer": 27.0},
]


def _check_rows(problems, stem):
    assert [(p.id, p.question, p.answer) for p in problems] == [
        (f"{stem}-1", "1+1?", "2"),
        (f"{stem}-2", "Half of 3?", "1.5"),
        (f"{stem}-3", "AMC style", "27"),
    ]


def test_json_array(tmp_path):
    f = tmp_path / "arr.json"
    f.write_text(json.dumps(ROWS, indent=2), encoding="utf-8")
    _check_rows(load_benchmark(path=f), "arr")


def test_json_file_holding_json_lines(tmp_path):
    f = tmp_path / "lines.json"
    f.write_text("".join(json.dumps(r) + "\n" for r in ROWS), encoding="utf-8")
    _check_rows(load_benchmark(path=f), "lines")


def test_json_errors(tmp_path):
    one = tmp_path / "one.json"
    one.write_text(json.dumps({"data": ROWS}), encoding="utf-8")
    assert "one JSON object, not a list of rows" in _err(path=one)
    bad = tmp_path / "bad.json"
    bad.write_text('[\n  {"problem": "a", "answer": 1},\n  {"problem": "b" "answer": 2}\n]')
    assert _err(path=bad).startswith(f"{bad}:3: malformed JSON")
    mixed = tmp_path / "mixed.json"
    mixed.write_text(json.dumps([ROWS[0], "just text"]), encoding="utf-8")
    assert _err(path=mixed) == f"{mixed}: row 2: expected a JSON object, got str"


def test_parquet(tmp_path):
    import pandas as pd

    f = tmp_path / "set.parquet"
    pd.DataFrame(ROWS).to_parquet(f)
    _check_rows(load_benchmark(path=f), "set")


def test_parquet_that_is_not(tmp_path):
    f = tmp_path / "broken.parquet"
    f.write_bytes(b"not parquet at all")
    assert _err(path=f).startswith(f"{f}: not a readable Parquet file (")


def test_save_to_disk_folder(tmp_path):
    import datasets

    folder = tmp_path / "saved"
    datasets.Dataset.from_list(ROWS).save_to_disk(str(folder))
    _check_rows(load_benchmark(path=folder), "saved")


def test_saved_dataset_dict_is_refused_with_what_to_do(tmp_path):
    import datasets

    folder = tmp_path / "dd"
    datasets.DatasetDict({"test": datasets.Dataset.from_list(ROWS)}).save_to_disk(str(folder))
    assert _err(path=folder) == (
        f"{folder}: a DatasetDict with splits test; pass one split's "
        f"folder, e.g. data.path={folder / 'test'}"
    )
    _check_rows(load_benchmark(path=folder / "test"), "test")


def test_plain_folder_and_unsupported_suffix(tmp_path):
    assert "not a `datasets` save_to_disk folder (no state.json)" in _err(path=tmp_path)
    csv = tmp_path / "set.csv"
    csv.write_text("problem,answer\n1+1?,2\n")
    assert _err(path=csv).startswith(f"{csv}: unsupported file type '.csv'; use .jsonl")


def _samples(n_problems: int, n_samples: int) -> list[dict]:
    return [
        {
            "id": f"p{i}",
            "sampling_id": s,
            "problem": f"Problem {i}?",
            "answer": str(i),
            "steps": {"step1": f"sample {s}"},
        }
        for i in range(n_problems)
        for s in range(n_samples)
    ]


def test_rows_repeated_per_sample_merge(tmp_path, caplog):
    f = _jsonl(tmp_path / "runs.jsonl", _samples(3, 4))
    with caplog.at_level(logging.INFO, logger="scale.data.load"):
        problems = load_benchmark(path=f)
    assert [(p.id, p.answer) for p in problems] == [
        ("runs-p0", "0"),
        ("runs-p1", "1"),
        ("runs-p2", "2"),
    ]
    assert "sampling_id" not in problems[0].meta
    assert any("9 repeated rows" in r.getMessage() for r in caplog.records)
    assert len(load_benchmark(path=f, limit=2)) == 2


def test_repeated_id_with_another_question_is_refused(tmp_path):
    rows = _samples(2, 2)
    rows[3]["answer"] = "99"
    f = _jsonl(tmp_path / "runs.jsonl", rows)
    assert _err(path=f) == (
        f"{f}:4: id 'runs-p1' repeats {f}:3 with a different question or "
        "answer; give each problem its own id (data.fields.id=NAME)"
    )


def test_samples_without_an_id_field_are_refused(tmp_path):
    rows = [{k: v for k, v in r.items() if k != "id"} | {"pid": r["id"]} for r in _samples(2, 2)]
    f = _jsonl(tmp_path / "runs.jsonl", rows)
    assert "rows carry 'sampling_id' (one row per sample) but no id field" in _err(path=f)
    assert [p.id for p in load_benchmark(path=f, fields={"id": "pid"})] == ["runs-p0", "runs-p1"]


# --- bad values -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (
            {"problem": "p", "answer": [1, 2]},
            "field 'answer': gold answer has unsupported type list",
        ),
        ({"problem": "p", "answer": None}, "missing field 'answer'"),
        ({"problem": ["chat"], "answer": 1}, "field 'problem' is a list, not text"),
        ({"problem": "p", "answer": float("nan")}, "gold answer is not a finite number"),
        ({"problem": "p", "answer": True}, "gold answer is missing or invalid: True"),
    ],
)
def test_bad_values_name_file_line_and_field(tmp_path, row, expected):
    f = tmp_path / "bad.jsonl"
    f.write_text(json.dumps({"problem": "ok", "answer": 1}) + "\n" + json.dumps(row) + "\n")
    msg = _err(path=f)
    assert msg.startswith(f"{f}:2: ") and expected in msg


def test_empty_file(tmp_path):
    f = tmp_path / "empty.jsonl"
    f.write_text("\n\n")
    assert _err(path=f) == f"no problems in {f}"
