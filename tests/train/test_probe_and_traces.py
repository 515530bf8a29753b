"""Probe mode and the trace builder, exactly, over scripted systems and the real runner.

Probe: every step solved by both systems from the same context (the System 2 path), labels
from the grader's equivalence (and, on the last step, against the gold). Traces: one row per
labelled step, split by problem, a card with the label definition and class balance.
"""

from __future__ import annotations

import json
import re

import pytest

from scale.rundir import RunDir
from scale.runner.run import run_eval
from scale.testing import Rule, ScriptedEngine, scripted_systems
from scale.testing.config import compose
from scale.testing.scripted import prompt_text
from scale.train import traces as tr
from scale.train.data import TracesError, load_traces
from tests.train.synthetic import write_traces

QUESTION = "How many apples does Tom have now?"
STEPS = ["Find the start count.", "Find the doubled count."]
OUTLINE = json.dumps({"step1": STEPS[0], "step2": STEPS[1], "step3": "Answer."})
N = 12


def problem(k: int) -> dict:
    return {"id": f"box{k}", "question": f"Box {k}: Tom has {k} apples and doubles them, then adds 10. {QUESTION}",
            "answer": str(2 * k + 10)}


def current(request) -> int:
    text = prompt_text(request)
    return max(range(3), key=lambda i: text.rfind((*STEPS, QUESTION)[i]))


def box(request) -> int:
    return int(re.search(r"Box (\d+):", prompt_text(request)).group(1))


def s2_reply(request) -> str:
    k, i = box(request), current(request)
    if i == 2 and k % 6 == 5:
        return "the thinking ran out"  # no answer from System 2: the step is unlabelled
    return f"so \\boxed{{{(k, 2 * k, 2 * k + 10)[i]}}}"


def s1_reply(request) -> str:
    k, i = box(request), current(request)
    if i == 0 and k % 4 == 3:
        return f"Tom starts with {k} apples, or {k + 1}"  # no box: a guess (last expression), unlabelled
    if i == 1 and k % 2:
        return "\\boxed{99}"  # differs from System 2: hard
    if i == 2 and (k % 3 == 1 or k % 6 == 5):
        return "I am not sure"  # no answer where System 2 has one: hard (neither answered: unlabelled)
    return f"\\boxed{{{(k, 2 * k, 2 * k + 10)[i]}}}"


def engines():
    common = [Rule(stage="decompose", reply=OUTLINE), Rule(stage="select", reply="Outline 1"),
              Rule(stage="score", pattern=r"Current step:\s*Find the start", reply="0.2"),
              Rule(stage="score", pattern=r"Current step:\s*Find the doubled", reply="0.8"),
              Rule(stage="score", pattern=r"Current step:\s*How many", reply="0.9")]  # last_step_score=null
    return ScriptedEngine([*common, Rule(stage="solve", reply=s1_reply)]), \
        ScriptedEngine([*common, Rule(stage="solve", reply=s2_reply)])


def run(tmp_path, name: str, *overrides: str) -> RunDir:
    data = tmp_path / "boxes.jsonl"
    data.write_text("".join(json.dumps(problem(k)) + "\n" for k in range(N)))
    cfg = compose("method=scale", f"data.path={data}", f"run_dir={tmp_path / name}", "method.n_outlines=1",
                  "runner.progress=false", *overrides)
    s1, s2 = engines()
    run_eval(cfg, systems=scripted_systems(s1, s2))
    return RunDir(tmp_path / name), s1, s2


@pytest.fixture(scope="module")
def probe_run(tmp_path_factory):
    return run(tmp_path_factory.mktemp("probe"), "probe", "method.probe=true")


def expected_label(k: int, i: int) -> int | None:
    if i == 0:
        return None if k % 4 == 3 else 0  # both boxed, or no label (the old rule said hard)
    if i == 1:
        return int(k % 2 == 1)
    if i == 2:
        return None if k % 6 == 5 else int(k % 3 == 1)
    return 0


def test_probe_solves_every_step_on_both_systems_from_the_same_context(probe_run):
    run_dir, s1, s2 = probe_run
    records = run_dir.collect().records
    assert len(records) == N
    for rec in records.values():
        k = int(rec.problem_id.split("box")[-1])
        steps = rec.trace["steps"]
        assert [s["mode"] for s in steps] == ["s2"] * 3  # the reference path
        assert [s["probe"]["label"] for s in steps] == [expected_label(k, i) for i in range(3)]
        assert [s["routed"] for s in steps] == ["s1", "s2", "s2"]  # 0.2, 0.8, pinned 0.9 at tau 0.5
        assert steps[2]["probe"]["s2_correct"] is (k % 6 != 5)
        ledger = rec.ledger
        assert sum(c["stage"] == "probe" and c["mode"] == "s1" for c in ledger) == 3
        assert all(c["mode"] == "s2" for c in ledger if c["stage"] == "solve")
        assert rec.answer == (None if k % 6 == 5 else str(2 * k + 10))
    # Same prompt to both systems for every step of every problem (System 2's answers carried).
    s1_prompts = sorted(prompt_text(r) for r in s1.sent("solve"))
    s2_prompts = sorted(prompt_text(r) for r in s2.sent("solve"))
    assert len(s1_prompts) == 3 * N and s1_prompts == s2_prompts


@pytest.mark.parametrize(("equivalent", "s1", "s2", "s1_correct", "s2_correct", "last", "expected"), [
    (False, "14", "15", True, False, True, (0, "s1_correct")),  # the gold outranks System 2
    (None, "14", None, True, False, True, (0, "s1_correct")),  # System 2 gave no answer, System 1 right
    (False, "13", "14", False, True, True, (1, "s1_wrong_s2_right")),
    (True, "13", "13", False, True, True, (1, "s1_wrong_s2_right")),  # equivalent, yet wrong
    (False, "13", "12", False, False, True, (1, "s1_differs")),  # both wrong: compared with System 2
    (None, None, None, False, False, True, (None, "s2_no_answer")),
    (False, "14", "15", None, None, True, (1, "s1_differs")),  # no gold
    (False, "14", "15", None, None, False, (1, "s1_differs")),
    (True, "14", "14", None, None, False, (0, "agree")),
])
def test_the_last_step_is_labelled_from_the_gold_first(equivalent, s1, s2, s1_correct, s2_correct, last, expected):
    from scale.methods.probe import label_of

    assert label_of(equivalent, s1, s2, s1_correct, s2_correct, last) == expected


@pytest.mark.parametrize(("s1_how", "s2_how", "last", "expected"), [
    ("last_expression", "boxed", False, (None, "not_both_boxed")),  # differing guesses are not "hard"
    ("boxed", "final_answer_phrase", False, (None, "not_both_boxed")),
    ("boxed_last_of_n", "fbox", False, (1, "s1_differs")),  # boxes of any kind are compared
    ("last_expression", "boxed", True, (0, "s1_correct")),  # the gold decides the last step first
])
def test_intermediate_steps_are_labelled_only_when_both_answers_are_boxed(s1_how, s2_how, last, expected):
    from scale.methods.probe import label_of

    gold = (True, False) if last else (None, None)
    assert label_of(False, "14", "15", *gold, last, s1_how, s2_how) == expected


def test_traces_from_probe_runs_split_by_problem_with_a_card(probe_run, tmp_path):
    run_dir, _, _ = probe_run
    built = tr.build([run_dir.path], val_fraction=0.25, test_fraction=0.25)
    # Issue 19 items 9-10: the pinned last step (never scored when routing) and steps whose answers
    # were not both boxed are left out, each counted.
    assert built.skipped == {"last_step_pinned": N, "unlabelled_not_both_boxed": N // 4}
    rows = [r for split in built.splits.values() for r in split]
    assert len(rows) == 2 * N - N // 4 and {r["step_idx"] for r in rows} == {0, 1}
    for r in rows:
        k = int(r["problem_id"].split("box")[-1])
        assert r["label"] == expected_label(k, r["step_idx"])
        assert r["previous_steps"] == [*STEPS, QUESTION][:r["step_idx"]]
        assert r["previous_answers"] == [str(k), str(2 * k)][:r["step_idx"]]
        assert r["prompted_score"] == [0.2, 0.8, 0.9][r["step_idx"]]
    groups = {name: {r["group"] for r in split} for name, split in built.splits.items()}
    assert sum(map(len, groups.values())) == N and not (groups["train"] & groups["validation"])
    assert not (groups["train"] & groups["test"]) and not (groups["validation"] & groups["test"])
    folder = tr.save(built, tmp_path / "traces", "python scripts/build_traces.py RUN --out traces")
    card = (folder / "README.md").read_text()
    assert "System 1's answer to the step is not equivalent" in card and "| train |" in card
    assert f"last_step_pinned: {N} (the last step: pinned at routing time" in card
    assert f"unlabelled_not_both_boxed: {N // 4} (the two answers were not both boxed" in card
    # Which models measured the labels (the run's config: systems=smollm2, the default).
    smol = "smollm2-135m-instruct"
    assert (built.sources[0]["s1_model"], built.sources[0]["s2_model"]) == (smol, smol)
    assert f"System 1 = {smol} and System 2 = {smol}" in card and f"| {smol} | {smol} |" in card
    loaded = load_traces(folder, splits=("train", "validation", "test"))
    assert sum(len(s) for s in loaded.splits.values()) == len(rows)
    assert loaded.meta["label"]["kind"] == "measured"
    assert loaded.meta["label"]["systems"] == {"s1": [smol], "s2": [smol]}


def test_a_run_that_scores_its_last_step_keeps_it_and_old_probes_are_refused_per_step(tmp_path):
    """last_step_score=null: routing scores the last step, so its (gold-judged) label stays; a
    probe record without the answers' extraction rules (an older run) is not trusted."""
    run_dir, _, _ = run(tmp_path, "scored", "method.probe=true", "method.last_step_score=null")
    built = tr.build([run_dir.path], val_fraction=0.25, test_fraction=0.0)
    assert built.skipped == {"unlabelled_s2_no_answer": N // 6, "unlabelled_not_both_boxed": N // 4}
    rows = [r for split in built.splits.values() for r in split]
    assert sorted((r["step_idx"], r["label"]) for r in rows if r["step_idx"] == 2) == sorted(
        (2, expected_label(k, 2)) for k in range(N) if expected_label(k, 2) is not None)
    records = run_dir.records.read_text().splitlines()
    old = []
    for line in records:
        rec = json.loads(line)
        for step in rec["trace"]["steps"]:
            for side in ("s1", "s2"):
                step["probe"][side].pop("how")
        old.append(json.dumps(rec))
    run_dir.records.write_text("\n".join(old) + "\n")
    built = tr.build([run_dir.path], val_fraction=0.25, test_fraction=0.0)
    agree_or_differ = N - N // 4 + N  # steps 0 and 1 labelled by comparing the two answers
    assert built.skipped["answer_rule_unrecorded"] == agree_or_differ
    assert {r["step_idx"] for split in built.splits.values() for r in split} == {2}  # gold-judged only


def test_prompted_labels_distil_the_score_and_leave_out_the_pinned_step(tmp_path):
    run_dir, _, _ = run(tmp_path, "plain")
    built = tr.build([run_dir.path], label="prompted", tau=0.5, val_fraction=0.25, test_fraction=0.0)
    assert built.skipped == {"score_fixed": N}
    rows = [r for split in built.splits.values() for r in split]
    assert sorted((r["step_idx"], r["label"]) for r in rows) == [(0, 0)] * N + [(1, 1)] * N
    assert set(built.splits) == {"train", "validation"}
    with pytest.raises(TracesError, match=r"no labelled steps for --label measured \(was it run with "
                                          r"method.probe=true\?\)"):
        tr.build([run_dir.path], label="measured")


def test_bad_traces_folders_fail_in_one_line(tmp_path):
    with pytest.raises(TracesError, match="no such folder"):
        load_traces(tmp_path / "nowhere")
    (tmp_path / "plain").mkdir()
    with pytest.raises(TracesError, match="not a saved DatasetDict"):
        load_traces(tmp_path / "plain")
    from tests.train.synthetic import synthetic_rows

    easy_only = [{**r, "label": 0} for r in synthetic_rows(12)]
    with pytest.raises(TracesError, match=r"the train split has only one label \(\d+ easy, 0 hard\)"):
        load_traces(write_traces(tmp_path / "easy", rows=easy_only))
    with pytest.raises(TracesError, match="cannot fill train, validation"):
        tr.split_groups(["a", "b"], 0.5, 0.5, 0)


def test_an_empty_split_is_named(tmp_path):
    import datasets

    from tests.train.synthetic import synthetic_rows

    rows = synthetic_rows(6)
    folder = tmp_path / "empty-val"
    datasets.DatasetDict({"train": datasets.Dataset.from_list(rows),
                          "validation": datasets.Dataset.from_list(rows).select([])}).save_to_disk(str(folder))
    with pytest.raises(TracesError, match=r"split 'validation' is empty"):
        load_traces(folder)
