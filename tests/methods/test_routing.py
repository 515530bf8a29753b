"""Routers: threshold, dataset-wide fraction, random at a matched fraction, extremes.

Fixed scores (the pinned last step, the fallback step) keep their fixed decision under every
router; ``fraction`` and ``random`` spend their share on scored steps only. The like-for-like
control with ``match_run`` over a real SCALE run dir:
tests/methods/test_fidelity.py::test_random_control_keeps_fixed_decisions_and_the_scored_share.
"""

from __future__ import annotations

import asyncio
import random

import pytest
from omegaconf import OmegaConf

from scale.build import build
from scale.difficulty import StepScore
from scale.errors import ConfigError
from scale.paths import CONFIG_DIR
from scale.routing import attempt_key
from scale.rundir import Record, RecordWriter, RunDir

PINNED = StepScore(0.9, "fixed")


def build_router(cfg):
    """The router of ``configs/router/<name>.yaml`` with ``cfg``'s other keys set on it."""
    cfg = dict(cfg)
    node = OmegaConf.to_container(OmegaConf.load(CONFIG_DIR / "router" / f"{cfg.pop('name')}.yaml"))
    return build({**node, **cfg}, "router")


def scored(values: list[float]) -> list[StepScore]:
    return [StepScore(v, "bare") for v in values]


def _route_all(router, score_lists: dict[str, list[StepScore]]) -> dict[str, list[bool]]:
    router.expect(len(score_lists))

    async def run():
        keys = list(score_lists)
        results = await asyncio.gather(*(router.route(k, score_lists[k]) for k in keys))
        return dict(zip(keys, results))

    return asyncio.run(run())


def _scores(n_attempts: int = 40, seed: int = 0, pinned: bool = False) -> dict[str, list[StepScore]]:
    rng = random.Random(seed)
    return {f"p{i}|0": scored([round(rng.random(), 2) for _ in range(rng.randint(1, 7))]) + ([PINNED] if pinned else [])
            for i in range(n_attempts)}


def _flat(scores, routes):
    return [(s, r) for k in scores for s, r in zip(scores[k], routes[k])]


def test_threshold_is_strictly_greater():
    routes = _route_all(build_router({"name": "threshold", "tau": 0.5}), {"a": scored([0.5, 0.51, 0.0, 1.0])})
    assert routes["a"] == [False, True, False, True]


def test_threshold_null_routes_at_the_scorers_threshold():
    class Scorer:
        threshold = 0.3

    router = build_router({"name": "threshold", "tau": None})
    assert router.tau == 0.5  # unbound: the default threshold
    router.bind(Scorer())
    assert router.tau == 0.3
    assert _route_all(router, {"a": scored([0.3, 0.31])})["a"] == [False, True]
    fixed = build_router({"name": "threshold", "tau": 0.7})
    fixed.bind(Scorer())
    assert fixed.tau == 0.7  # a configured tau wins


@pytest.mark.parametrize("name, expected", [("all_s1", False), ("all_s2", True)])
def test_extremes(name, expected):
    routes = _route_all(build_router({"name": name}), _scores(pinned=True))
    assert all(r == expected for rs in routes.values() for r in rs)


@pytest.mark.parametrize("q", [0.0, 0.25, 0.5, 0.8, 1.0])
def test_fraction_takes_exactly_the_hardest_q_of_the_scored_steps(q):
    scores = _scores(pinned=True)
    routes = _route_all(build_router({"name": "fraction", "q": q}), scores)
    flat = [(s.value, r) for s, r in _flat(scores, routes) if not s.fixed]
    assert sum(r for _, r in flat) == round(q * len(flat))
    if 0 < q < 1:
        chosen = [s for s, r in flat if r]
        rest = [s for s, r in flat if not r]
        assert min(chosen) >= max(rest)
    # The pinned last step keeps its fixed decision (0.9 > the scorer's 0.5), whatever q is.
    assert all(rs[-1] for rs in routes.values())


@pytest.mark.parametrize("fraction", [0.1, 0.37, 0.56])
def test_random_hits_the_fraction_of_scored_steps_and_ignores_scores(fraction):
    scores = _scores(60, pinned=True)
    routes = _route_all(build_router({"name": "random", "fraction": fraction, "seed": 3}), scores)
    flat = [(s, r) for s, r in _flat(scores, routes) if not s.fixed]
    assert sum(r for _, r in flat) == round(fraction * len(flat))
    assert all(rs[-1] for rs in routes.values())  # the question step stays on System 2
    # Not the hardest steps: the control must not see the scores.
    fr = _route_all(build_router({"name": "fraction", "q": fraction}), scores)
    assert routes != fr
    # Same seed, same routing (reruns and resumes route identically).
    again = _route_all(build_router({"name": "random", "fraction": fraction, "seed": 3}), scores)
    assert again == routes


def test_fixed_steps_follow_the_scorers_threshold_under_the_barrier_routers():
    class Strict:
        threshold = 0.95

    router = build_router({"name": "random", "fraction": 1.0})
    router.bind(Strict())  # the pinned 0.9 is not above 0.95: the last step stays on System 1
    routes = _route_all(router, {"a": [*scored([0.1, 0.2]), PINNED], "b": [StepScore(1.0, "fallback")]})
    assert routes == {"a": [True, True, False], "b": [True]}


def test_a_matched_run_lends_its_fixed_decisions_by_attempt_key(tmp_path):
    """Old records (no ``fixed`` field) mark fixed steps by how they were scored (FIXED_HOWS)."""
    def rec(pid: str, steps: list[tuple[str, str]]) -> Record:
        return Record(problem_id=pid, sample_idx=0, method="scale", question="q", gold="1", answer="1",
                      correct=True, grade_reason="equal",
                      trace={"steps": [{"mode": m, "score_how": how} for m, how in steps]})

    RunDir(tmp_path).write_config({"n_samples": 1})
    with RecordWriter(tmp_path / "records.jsonl") as w:
        w.write(rec("p1", [("s2", "bare"), ("s1", "fixed")]))
        w.write(rec("p2", [("s1", "bare"), ("s2", "bare"), ("s2", "fixed")]))
        w.write(rec("p3", [("s1", "fallback")]))
    router = build_router({"name": "random", "match_run": str(tmp_path)})
    router.expect(1)
    m = router.matched
    assert (m.s2_scored, m.n_scored) == (2, 3) and router.q == pytest.approx(2 / 3)
    assert m.fixed == {(attempt_key("p1", 0), "fixed"): False, (attempt_key("p2", 0), "fixed"): True,
                       (attempt_key("p3", 0), "fallback"): False}
    assert attempt_key("p1", 0) == "p1|0"
    assert router.fixed_route("p1|0", PINNED) is False and router.fixed_route("p2|0", PINNED) is True
    assert router.fixed_route("p9|0", StepScore(1.0, "fallback")) is False  # the match's commonest
    router.check_run(["p1", "p9"], 1)
    with pytest.raises(ConfigError, match="holds none of this run's problems"):
        router.check_run(["p9"], 1)


def test_match_run_must_be_a_folder(tmp_path):
    with pytest.raises(ConfigError, match="no run directory"):
        build_router({"name": "random", "match_run": str(tmp_path / "missing")})


@pytest.mark.parametrize(
    "cfg, word",
    [({"name": "threshold", "tau": 1.5}, "1.5"), ({"name": "fraction", "q": -0.1}, "-0.1"),
     ({"name": "threshold", "_target_": "scale.routing.Nope"}, "'Nope'"),
     ({"name": "random"}, "router.fraction"),
     ({"name": "threshold", "tua": 0.5}, "tua"), ({"name": "threshold", "tau": "abc"}, "router.tau: expected a number or null, got 'abc'"),
     ({"name": "fraction", "q": True}, "router.q")],
)
def test_bad_router_config_named(cfg, word):
    with pytest.raises(ConfigError, match=word):
        build_router(cfg)
