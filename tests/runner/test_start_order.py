"""The start order (scale/runner/order.py, issue 22): the longest expected chain first.

The rule on its own, then a real SCALE cell against the simulated server over HTTP, killed
mid-run and resumed one attempt at a time: the resumed attempts start as the rule says, and
the records equal an uninterrupted run's (the order changes only when attempts finish)."""

from __future__ import annotations

import json

import pytest

from scale.data import Problem
from scale.rundir import Record, RunDir
from scale.runner.order import StartOrder, chain_tokens, known_chains
from scale.runner.run import run_eval
from scale.testing.compare import comparable_records
from scale.testing.config import compose
from scale.testing.sim_server import SimProcess, sim_question


def _call(stage: str, tokens: int, step: int | None = None) -> dict:
    return {"stage": stage, "step": step, "response_tokens": tokens}


def test_a_chain_is_its_groups_in_sequence_each_as_long_as_its_longest_call():
    ledger = [_call("decompose", 10), _call("decompose", 30), _call("select", 2),
              _call("score", 1, 0), _call("score", 3, 1), _call("solve", 100, 0), _call("solve", 50, 1)]
    assert chain_tokens(ledger) == 30 + 2 + 3 + 100 + 50


def test_unmeasured_problems_start_first_then_the_longest_measured_chain():
    p = [Problem(id=f"p{i}", question="q", answer="1") for i in range(4)]
    items = [(pr, s) for pr in p for s in range(2)]
    order = StartOrder(items, known={"p1": 50, "p3": 90})
    started = [order.next(), order.next()]
    assert [(x.id, s) for x, s in started] == [("p0", 0), ("p0", 1)]  # unmeasured: the given order
    order.finished("p2", [_call("solve", 500)])  # measured meanwhile (another sample of p2 finished)
    got = []
    while (item := order.next()) is not None:
        got.append((item[0].id, item[1]))
    assert got == [("p2", 0), ("p2", 1), ("p3", 0), ("p3", 1), ("p1", 0), ("p1", 1)]
    order = StartOrder(items[:4], known={})
    assert order.next()[0].id == "p0"
    order.finished("p0", [_call("solve", 5)])  # p0 measured: its rest waits behind p1 (unmeasured)
    assert [order.next()[0].id, order.next()[0].id, order.next()[0].id, order.next()] == ["p1", "p1", "p0", None]


@pytest.fixture
def cell(tmp_path, single_process):
    data = tmp_path / "sim.jsonl"
    data.write_text("".join(json.dumps({"id": f"p{i}", "question": sim_question(i, str(i)), "answer": str(i)})
                            + "\n" for i in range(5)))
    sim = SimProcess(profile="scale", time_scale=1000, length_scale=0.02)
    sim.__enter__()

    def config(run_dir, *extra):
        cfg = compose("experiment=table1/qwen3_32b_scale_aime24", f"data.path={data}", "engine=openai",
                      "n_samples=3", f"run_dir={run_dir}", "runner.progress=false", *extra)
        cfg["systems"]["engines"]["main"]["base_url"] = sim.url
        return cfg

    yield config
    sim.__exit__(None, None, None)


class Stop(Exception):
    pass


def test_a_resumed_run_starts_the_longest_chains_first_and_records_the_same(tmp_path, cell):
    run_eval(cell(tmp_path / "whole"))
    whole = RunDir(tmp_path / "whole").collect().records

    seen: list[Record] = []

    def stop_after_five(rec: Record) -> None:
        seen.append(rec)
        if len(seen) == 5:
            raise Stop  # as a kill would: the finished records stay, the rest never ran

    with pytest.raises(Stop):
        run_eval(cell(tmp_path / "cut", "runner.max_concurrency=2"), on_record=stop_after_five)
    before = RunDir(tmp_path / "cut").collect().records
    assert len(before) == 5

    resumed: list[Record] = []  # one at a time: the completion order is the start order
    run_eval(cell(tmp_path / "cut", "runner.max_concurrency=1"), on_record=resumed.append)
    after = RunDir(tmp_path / "cut").collect().records
    assert comparable_records(after.values()) == comparable_records(whole.values())

    # The rule, checked from the records: first one sample of each problem with none finished
    # (in the given order), then each pending sample of the longest chain measured so far.
    problems = [f"sim-p{i}" for i in range(5)]
    finished = list(before.values())
    unmeasured = [p for p in problems if p not in known_chains(finished)]
    assert [r.problem_id for r in resumed[:len(unmeasured)]] == unmeasured
    finished += resumed[:len(unmeasured)]
    for rec in resumed[len(unmeasured):]:
        chains = known_chains(finished)
        done = {f.key for f in finished}
        pending = {r.problem_id for r in resumed if r.key not in done}
        assert chains[rec.problem_id] == max(chains[p] for p in pending), (rec.key, chains)
        finished.append(rec)
    assert len({chain_tokens(r.ledger) for r in after.values()}) > 3  # chains differ: the order was tested
