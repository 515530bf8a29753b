"""Issue 8, over the scripted engine (exact and fast; tiny-model counterparts: test_scale_method.py).

The problem's givens reach every step; the random control is like for like with the run it
matches; a prompt that fills the context is a counted failure; the authors' per-model prompt
shapes (no system message for R1/QwQ, carry=answer); scoring re-samples to a bare number.
"""

from __future__ import annotations

import asyncio
import json
import re
import zlib

import pytest

from scale.data import Problem, load_benchmark
from scale.errors import ConfigError
from scale.methods import Context
from scale.rundir import RunDir
from scale.runner.run import run_eval
from scale.testing import Rule, ScriptedEngine, scripted_systems
from scale.testing.config import build_method, compose
from scale.testing.scripted import prompt_text
from tests.helpers.shard_env import clear_shard_env

NUMBER = re.compile(r"\d+(?:\.\d+)?")


@pytest.fixture(autouse=True)
def single_process(monkeypatch):
    clear_shard_env(monkeypatch)


def run_all(method, problems, systems, n_samples: int = 1):
    ctx = Context(systems=systems, seed=0, n_attempts=len(problems) * n_samples)
    method.prepare(problems, n_samples, ctx)

    async def go():
        return await asyncio.gather(*(method.run(p, s, ctx) for p in problems for s in range(n_samples)))

    return asyncio.run(go())


def outline_for(request) -> str:
    """2-5 steps without numbers, as many as a hash of the problem says."""
    n = 2 + zlib.crc32(prompt_text(request).encode()) % 4
    return json.dumps({f"step{i + 1}": f"Work out intermediate quantity {'ABCDE'[i]}" for i in range(n)})


def score_for(request) -> str:
    """A score in 0.1..0.9 that depends on the step (so routes vary)."""
    return f"0.{1 + zlib.crc32(prompt_text(request).encode()) % 9}"


def generic_engine(*extra: Rule) -> ScriptedEngine:
    return ScriptedEngine([
        *extra,
        Rule(stage="decompose", reply=outline_for),
        Rule(stage="select", reply="Outline 1"),
        Rule(stage="score", reply=score_for),
        Rule(stage="solve", reply="so the value is \\boxed{12}", reasoning="a long thought"),
    ])


# --------------------------------------------------------------------------- 1: the givens


def test_every_solve_prompt_of_every_step_holds_the_problems_numbers(shared_data):
    problems = load_benchmark("amc23")
    method = build_method("scale", n_outlines=1)
    for p in problems:  # one engine per problem: its requests are that problem's
        eng = generic_engine()
        (attempt,) = run_all(method, [p], scripted_systems(eng))
        numbers = NUMBER.findall(p.question)
        solve = eng.sent("solve")
        assert numbers and len(solve) == len(attempt.trace["steps"]) >= 2
        for r in solve:  # the whole statement is the condition when the data gives none
            missing = [n for n in numbers if n not in prompt_text(r)]
            assert not missing, (p.id, missing)
        assert attempt.trace["condition_source"] == "problem"


def test_the_datas_condition_and_final_question_are_used():
    problem = Problem(id="split", question="A box holds 7 red and 5 blue balls. How many balls are there?",
                      answer="12", condition="A box holds 7 red and 5 blue balls.")
    object.__setattr__(problem, "final_question", "How many balls are there?")  # as the loader fills it
    eng = generic_engine()
    (attempt,) = run_all(build_method("scale", n_outlines=1), [problem], scripted_systems(eng))
    assert attempt.trace["condition_source"] == "data"
    assert attempt.trace["question"] == "How many balls are there?"
    for r in eng.sent("solve"):
        assert "Given conditions:\nA box holds 7 red and 5 blue balls.\n" in prompt_text(r)
    assert attempt.trace["steps"][-1]["step"] == "How many balls are there?"


def test_a_model_split_may_copy_a_question_that_opens_the_problem():
    """split=model: a verbatim copy is accepted wherever it sits, position 0 included."""
    problem = Problem(id="opens", question="What is 7 + 5? Tom asks it twice.", answer="12")
    eng = generic_engine(Rule(stage="split", reply='"What is 7 + 5?"'))
    (attempt,) = run_all(build_method("scale", n_outlines=1, split="model"), [problem], scripted_systems(eng))
    assert "split_fallback" not in attempt.failures
    assert attempt.trace["steps"][-1]["step"] == "What is 7 + 5?"


# --------------------------------------------------------------------------- 2: the control


def _routes(run_dir) -> dict[str, list[tuple[str, bool]]]:
    """Per attempt: (mode, fixed) of every step, read through scale.rundir."""
    records = RunDir(run_dir).collect().records.values()
    return {f"{r.problem_id}|{r.sample_idx}": [(s["mode"], s["fixed"]) for s in r.trace["steps"]]
            for r in records}


def _scored_share(routes) -> tuple[float, int]:
    scored = [mode for steps in routes.values() for mode, fixed in steps if not fixed]
    return sum(m == "s2" for m in scored) / len(scored), len(scored)


@pytest.mark.parametrize("scale_overrides", [[], ["method.last_step_score=0.4"]],
                         ids=["last-step-s2", "last-step-s1"])
def test_random_control_keeps_fixed_decisions_and_the_scored_share(tmp_path, shared_data, scale_overrides):
    common = ["data=amc23", "data.limit=20", "n_samples=2", "runner.progress=false", "method.n_outlines=1"]
    scale_dir, control_dir = tmp_path / "scale", tmp_path / "control"
    run_eval(compose(*common, *scale_overrides, f"run_dir={scale_dir}"), systems=scripted_systems(generic_engine()))
    run_eval(compose(*common, *scale_overrides, "router=random", f"router.match_run={scale_dir}",
                     f"run_dir={control_dir}"), systems=scripted_systems(generic_engine()))
    matched, control = _routes(scale_dir), _routes(control_dir)
    assert matched.keys() == control.keys() and len(matched) == 40
    # Every fixed decision (the pinned last step: the one that answers the question) as in the run.
    assert {k: steps[-1] for k, steps in control.items()} == {k: steps[-1] for k, steps in matched.items()}
    assert all(steps[-1][1] for steps in control.values())
    # The same share of scored steps on System 2 (to rounding), but not the same steps.
    (share, n), (share_c, n_c) = _scored_share(matched), _scored_share(control)
    assert n == n_c and 0 < share < 1
    assert abs(share - share_c) <= 0.5 / n
    assert control != matched
    # A control matched to a run of other problems or another sample count is refused.
    with pytest.raises(ConfigError, match="holds none of this run's problems"):
        run_eval(compose("data=demo", "runner.progress=false", *scale_overrides, "router=random",
                         f"router.match_run={scale_dir}", f"run_dir={tmp_path / 'other'}"),
                 systems=scripted_systems(generic_engine()))
    with pytest.raises(ConfigError, match="ran n_samples=2, this run n_samples=1"):
        run_eval(compose(*common[:2], "runner.progress=false", *scale_overrides, "router=random",
                         f"router.match_run={scale_dir}", f"run_dir={tmp_path / 'one'}"),
                 systems=scripted_systems(generic_engine()))


# --------------------------------------------------------------------------- 3: output caps


def test_a_prompt_that_fills_the_context_is_a_counted_failure():
    problem = load_benchmark("demo", limit=1)[0]
    eng = generic_engine()
    # System 2's window is smaller than any solve prompt: every S2 step overflows.
    systems = scripted_systems(eng, s2={"context_length": 40, "context_margin": 5})
    (attempt,) = run_all(build_method("scale", "router=all_s2", n_outlines=1), [problem], systems)
    n_steps = len(attempt.trace["steps"])
    assert attempt.failures.count("context_overflow") == n_steps
    assert {s["finish_reason"] for s in attempt.trace["steps"]} == {"context_overflow"}
    assert attempt.answer is None and "no_answer" in attempt.failures
    for option in ("cot_s2", "majority", "inftythink"):
        (a,) = run_all(build_method(option), [problem], systems)
        assert "context_overflow" in a.failures and a.answer is None, option


def test_figure2_sweeps_system2s_budget_at_tau_05_with_system1_fixed():
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from scale.paths import CONFIG_DIR

    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base=None):
        sweep = hydra_compose("eval", ["experiment=figure2_budget_sweep"], return_hydra_config=True)
        params = dict(sweep.hydra.sweeper.params)
    assert params == {"data": "aime24,aime25", "systems.s2.sampling.max_new_tokens": "4096,8192,16384,32768"}
    for budget in (4096, 32768):
        c = compose("experiment=figure2_budget_sweep", f"systems.s2.sampling.max_new_tokens={budget}")
        assert (c["method"]["name"], c["router"]["name"], c["router"]["tau"], c["n_samples"]) == \
            ("scale", "threshold", 0.5, 8)
        assert c["systems"]["s1"]["sampling"]["max_new_tokens"] == 32768  # System 1 fixed
        assert c["systems"]["s2"]["sampling"]["max_new_tokens"] == budget
    # The Findings' reading of Figure 2 (tau 0.2) is one override away.
    assert compose("experiment=figure2_budget_sweep", "router.tau=0.2")["router"]["tau"] == 0.2


# --------------------------------------------------------------------------- 6: prompt shapes


def test_no_system_message_folds_the_instruction_into_the_user_turn():
    problem = load_benchmark("demo", limit=1)[0]
    for option, overrides, template in (("scale", ["router=all_s2", "method.n_outlines=1"], "solve_system"),
                                        ("cot_s2", ["prompts.cot_system=Reason first."], "cot_system")):
        eng = generic_engine()
        method = build_method(option, *overrides)
        run_all(method, [problem], scripted_systems(eng, s2={"system_message": False}))
        head = method.prompts.fill(template)
        assert head.strip() and eng.sent("solve")
        for r in eng.sent("solve"):
            assert [m["role"] for m in r.messages] == ["user"], option
            assert r.messages[0]["content"].startswith(head + "\n"), option


def test_carry_answer_carries_only_each_steps_answer():
    problem = Problem(id="apples", question="Tom has 3 apples and buys 4 more. How many apples now?", answer="7")
    visible = {"Work out intermediate quantity A": "First 3 apples are there, so \\boxed{3}",
               "Work out intermediate quantity B": "Then 3 + 4 gives \\boxed{7}"}

    def solve(request) -> str:
        current = prompt_text(request).rsplit("Current question:\n", 1)[1].split("\n")[0]
        return visible.get(current, "\\boxed{7}")

    for carry, shows, hides in (("answer", "Answer: 3\n", "First 3 apples are there"),
                                ("visible", "Answer: First 3 apples are there, so \\boxed{3}", None)):
        eng = ScriptedEngine([
            Rule(stage="decompose", reply=json.dumps({"step1": "Work out intermediate quantity A",
                                                      "step2": "Work out intermediate quantity B",
                                                      "step3": "Answer"})),
            Rule(stage="score", reply="0.2"),
            Rule(stage="solve", reply=solve),
        ])
        (attempt,) = run_all(build_method("scale", n_outlines=1, carry=carry), [problem], scripted_systems(eng))
        later = prompt_text(eng.sent("solve")[1])
        assert shows in later, carry
        if hides:
            assert hides not in later
        assert attempt.trace["carry"] == carry and attempt.answer == "7"


@pytest.mark.parametrize("setup, carry, top_k, folded", [
    ("qwen3_32b", "visible", 20, False), ("qwq_32b", "answer", 0, True),
    ("r1_llama_70b", "answer", 0, True), ("r1_qwen_32b", "answer", 0, True)])
def test_table1_cells_use_the_authors_choice_per_model(setup, carry, top_k, folded):
    from scale.engine.openai_engine import OpenAIEngine
    from scale.systems import system_config_from_dict

    for data in ("aime24", "aime25", "amc23"):
        c = compose(f"experiment=table1/{setup}_scale_{data}")
        assert c["method"]["carry"] == carry
        s1 = system_config_from_dict("s1", "s1", c["systems"]["s1"])
        s2 = system_config_from_dict("s2", "s2", c["systems"]["s2"])
        # Qwen3 non-thinking is System 1 of every pair, sampled as the authors' wrapper forces it.
        assert (s1.sampling.temperature, s1.sampling.top_p, s1.sampling.top_k) == (0.7, 0.8, 20)
        assert s1.template_kwargs == {"enable_thinking": False}
        assert (s1.context_length, s1.context_margin, s1.sampling.max_new_tokens) == (40960, 50, 32768)
        assert (s2.sampling.temperature, s2.sampling.top_p, s2.sampling.max_new_tokens) == (0.6, 0.95, 32768)
        assert (s2.sampling.top_k, s2.system_message) == (top_k, not folded)
        assert s2.context_length == {"qwen3_32b": 40960, "qwq_32b": 32768}.get(setup, 16384)
        assert s2.context_margin == (50 if setup == "qwen3_32b" else 200)
    from scale.systems import System

    request = System(s2, OpenAIEngine("http://127.0.0.1:1/v1", "m")).request(
        [{"role": "system", "content": "INSTR"}, {"role": "user", "content": "Q"}])
    body = OpenAIEngine("http://127.0.0.1:1/v1", "m").body(request)
    assert ("top_k" in body) == (top_k > 0)  # QwQ / R1: not sent, the server's default applies
    assert [m["role"] for m in body["messages"]] == (["user"] if folded else ["system", "user"])


def test_top_k_zero_is_off_on_the_hf_engine():
    """``top_k: 0`` (the QwQ/R1 System 2 files): not sent on engine=openai (the test above), the
    whole vocabulary in the HF sampler's table. That an engine built on a model whose
    generation_config sets top_k still samples with it: tests/engine/test_hf_layout.py."""
    from scale.engine.hf_sampling import sampling_table
    from scale.engine.types import SamplingParams

    rows = [SamplingParams(temperature=0.6, top_p=0.95, top_k=k, max_new_tokens=8, seed=1) for k in (0, 20)]
    table = sampling_table(rows, [1, 1], [0, 0], vocab=1000)
    assert table[:, 1].tolist() == [1000.0, 20.0]


PAPER_COT = "Please reason step by step, and put your final answer within \\boxed{}."  # the paper's quote
AUTHORS_QWEN3_COT = ('prompts.cot_system="' + PAPER_COT + '"', "prompts.cot_user='{question}'")


def test_the_default_cot_prompt_carries_the_papers_instruction_after_the_problem():
    from scale.prompts import default_prompts

    prompts = default_prompts()
    assert prompts["cot_system"] == ""  # no system message: the instruction is in the user turn
    assert prompts.chat("cot_system", "cot_user", question="Q?") == [
        {"role": "user", "content": "Q?\n\n" + PAPER_COT}]


def test_the_cot_override_gives_the_authors_shape_per_model():
    """docs/fidelity.md's override: Qwen3 gets the instruction as the system message, the
    problem as the user turn; without a system message (QwQ/R1) the user turn is
    instruction + newline + problem, as the authors' cot_qwq.py / cot_distill.py send it."""
    problem = load_benchmark("demo", limit=1)[0]
    for s2, expected in (({}, [{"role": "system", "content": PAPER_COT},
                               {"role": "user", "content": problem.question}]),
                         ({"system_message": False}, [{"role": "user",
                                                       "content": PAPER_COT + "\n" + problem.question}])):
        eng = generic_engine()
        run_all(build_method("cot_s2", *AUTHORS_QWEN3_COT), [problem], scripted_systems(eng, s2=s2))
        (request,) = eng.sent("solve")
        assert [dict(m) for m in request.messages] == expected


# --------------------------------------------------------------------------- 7: scoring


def _score_engine(replies: list[str]) -> ScriptedEngine:
    return ScriptedEngine([
        Rule(stage="decompose", reply=json.dumps({"step1": "Find A", "step2": "Answer"})),
        *[Rule(stage="score", reply=r, times=1) for r in replies],
        Rule(stage="solve", reply="\\boxed{1}"),
    ])


def _sampled_s1() -> dict:
    from scale.engine.types import SamplingParams

    return {"sampling": SamplingParams(temperature=0.7, top_p=0.8, top_k=20, max_new_tokens=64)}


@pytest.mark.parametrize("replies, value, how, failures, calls", [
    (["0.3"], 0.3, "bare", [], 1),
    (["Score: 0.3", "**0.6**", "0.7"], 0.7, "bare", [], 3),  # re-sampled until a bare number
    (["Score: 0.3"] * 5, 0.3, "number", ["score_lenient"], 5),  # 1 + resample(4), then lenient
    (["hard"] * 5, 0.8, "word", ["score_lenient"], 5),
    (["no idea"] * 5, 1.0, "failed", ["score_parse"], 5),  # nothing parses: on_failure
])
def test_scores_are_resampled_with_system1_sampling(replies, value, how, failures, calls):
    problem = Problem(id="p", question="What is 1?", answer="1")
    eng = _score_engine(replies)
    (attempt,) = run_all(build_method("scale", n_outlines=1), [problem], scripted_systems(eng, s1=_sampled_s1()))
    first = attempt.trace["steps"][0]
    assert (first["score"], first["score_how"], first["score_tries"]) == (value, how, calls)
    assert [f for f in attempt.failures if f.startswith("score")] == failures
    sent = eng.sent("score")
    assert len(sent) == calls
    assert all(r.sampling.temperature == 0.7 and r.sampling.top_k == 20 for r in sent)  # S1's own
    assert len({r.sampling.seed for r in sent}) == calls  # each re-sample draws anew


def test_greedy_scoring_asks_once_at_temperature_zero():
    problem = Problem(id="p", question="What is 1?", answer="1")
    eng = _score_engine(["Score: 0.3"] * 5)
    (attempt,) = run_all(build_method("scale", "difficulty.sampling=greedy", n_outlines=1), [problem],
                         scripted_systems(eng, s1=_sampled_s1()))
    (sent,) = eng.sent("score")
    assert sent.sampling.temperature == 0.0
    assert attempt.failures.count("score_lenient") == 1


def test_paper_configs_sample_their_scores():
    c = compose("experiment=table1/qwen3_32b_scale_aime24")
    assert (c["difficulty"]["sampling"], c["difficulty"]["resample"]) == ("s1", 4)
    assert c["method"]["difficulty"] == c["difficulty"]


# --------------------------------------------------------------------------- 9: outlines


def test_the_paper_configs_sample_k8_outlines_with_system1s_sampling():
    """Qwen3-32B pair as shipped (no override of K): 8 outlines, System 1's top_p/top_k, T 0.7."""
    from scale.build import build
    from scale.systems import System, Systems, system_config_from_dict

    c = compose("experiment=table1/qwen3_32b_scale_aime24")
    method = build(c["method"], "method")
    assert method.n_outlines == 8
    eng = generic_engine()
    s1, s2 = (System(system_config_from_dict(m, m, c["systems"][m]), eng) for m in ("s1", "s2"))
    assert (s1.config.sampling.top_p, s1.config.sampling.top_k) == (0.8, 20)  # Qwen3 non-thinking
    problem = Problem(id="p", question="Tom has 3 apples and buys 4 more. How many apples now?", answer="7")
    run_all(method, [problem], Systems(s1, s2, {"main": eng}))
    decompose = eng.sent("decompose")
    assert len(decompose) == 8 and len({r.sampling.seed for r in decompose}) == 8
    assert all((r.sampling.temperature, r.sampling.top_p, r.sampling.top_k, r.sampling.max_new_tokens)
               == (0.7, 0.8, 20, 1024) and not r.thinking for r in decompose)


def test_selection_is_one_greedy_system1_call_that_lists_every_candidate_and_the_criteria():
    """The Qwen3-32B pair as shipped: System 1 (thinking off) is asked once, at temperature 0 and
    64 new tokens, with every candidate labelled and the paper's criteria in the prompt."""
    from scale.build import build
    from scale.systems import System, Systems, system_config_from_dict

    c = compose("experiment=table1/qwen3_32b_scale_aime24")
    method = build({**c["method"], "n_outlines": 3}, "method")
    eng = generic_engine()
    s1, s2 = (System(system_config_from_dict(m, m, c["systems"][m]), eng) for m in ("s1", "s2"))
    problem = Problem(id="p", question="Tom has 3 apples and buys 4 more. How many apples now?", answer="7")
    (attempt,) = run_all(method, [problem], Systems(s1, s2, {"main": eng}))
    (select,) = eng.sent("select")
    assert (select.sampling.temperature, select.sampling.max_new_tokens) == (0.0, 64)
    assert select.sampling.greedy and not select.thinking
    assert select.template_kwargs == {"enable_thinking": False}  # System 1
    text = prompt_text(select)
    assert "logical correctness, clarity, completeness, relevance to the question, and simplicity" in text
    assert all(f"Outline {i}:" in text for i in (1, 2, 3)) and problem.question in text
    assert attempt.trace["chosen"] == 0 and "select_parse" not in attempt.failures  # "Outline 1"


def test_a_long_outline_keeps_its_last_step_and_is_counted():
    problem = Problem(id="p", question="Tom has 3 apples. How many apples does Tom have?", answer="3")
    long = json.dumps({f"step{i}": f"Goal number {i}" for i in range(1, 7)})
    eng = ScriptedEngine([Rule(stage="decompose", reply=long), Rule(stage="score", reply="0.2"),
                          Rule(stage="solve", reply="\\boxed{3}")])
    (attempt,) = run_all(build_method("scale", n_outlines=1, max_steps=3, replace_last_step=False), [problem],
                         scripted_systems(eng))
    assert [s["step"] for s in attempt.trace["steps"]] == ["Goal number 1", "Goal number 2", "Goal number 6"]
    assert attempt.failures.count("outline_truncated") == 1


# --------------------------------------------------------------------------- 5: InftyThink


def test_inftythink_summarises_an_unfinished_round_with_the_same_model():
    problem = Problem(id="p", question="What is 6 times 7?", answer="42")
    eng = ScriptedEngine([
        Rule(stage="summarize", reply="SUMMARY-ONE: 6 x 7 is 6 sevens", reasoning="how to summarise"),
        # Round 0 is cut inside its thought (no visible text, no answer); round 1 answers.
        Rule(stage="solve", pattern="SUMMARY-ONE", reply="So \\boxed{42}"),
        Rule(stage="solve", reply="", reasoning="six sevens are " + "seven " * 20),
    ])
    method = build_method("inftythink", max_rounds=3, segment_tokens=10, summary_tokens=30)
    (attempt,) = run_all(method, [problem], scripted_systems(eng))
    assert [(c.stage, c.step, c.mode, c.finish_reason) for c in attempt.ledger.calls] == [
        ("solve", 0, "s2", "length"), ("summarize", None, "s2", "stop"), ("solve", 1, "s2", "stop")]
    (summarize,) = eng.sent("summarize")
    text = prompt_text(summarize)
    assert problem.question in text and "six sevens are seven" in text  # the partial thought, summarised
    assert summarize.thinking and summarize.sampling.max_new_tokens == 30
    second = prompt_text(eng.sent("solve")[1])
    assert "SUMMARY-ONE: 6 x 7 is 6 sevens" in second and "how to summarise" not in second
    assert attempt.answer == "42" and attempt.failures == []
    cost = attempt.ledger.summary()
    summary_tokens = attempt.ledger.calls[1].response_tokens
    assert summary_tokens == 3 + 7  # thought "how to summarise" + "SUMMARY-ONE: 6 x 7 is 6 sevens"
    assert cost["tok_paper"] == 10 + summary_tokens + 2  # the summary counts in tok_paper
    assert (cost["n_steps"], cost["tpi"]) == (2, cost["tok_paper"] / 2)


def test_inftythink_defaults_can_reach_the_papers_tpi():
    m = compose("experiment=table1/qwq_32b_inftythink_aime25")["method"]
    assert (m["max_rounds"], m["segment_tokens"], m["summary_tokens"]) == (8, 8192, 2048)
    # Paper: Tpi up to 10,114 (QwQ AIME25) and Tok/Tpi of 5.6-7.3 rounds.
    assert m["segment_tokens"] + m["summary_tokens"] >= 10114 and m["max_rounds"] >= 7.3


# --------------------------------------------------------------------------- metrics


def test_run_costs_are_means_over_finished_attempts_and_tpi_a_ratio_of_totals():
    from scale.rundir import Record
    from scale.rundir.metrics import compute_metrics

    def rec(sample: int, tok: int, steps: int, error: dict | None = None) -> Record:
        cost = {"tok_paper": tok, "tok_total": 3 * tok, "n_steps": steps, "s2_steps": 1}
        return Record(problem_id="p", sample_idx=sample, method="scale", question="q", gold="1", answer="1",
                      correct=error is None, grade_reason="x", cost={} if error else cost, error=error)

    m = compute_metrics([rec(0, 10, 2), rec(1, 30, 1), rec(2, 0, 0, error={"kind": "engine", "message": "x"})])
    assert (m.tok_paper, m.tok_total) == (20, 60)  # over the two finished attempts (a failed one has no ledger)
    assert m.tpi == pytest.approx(40 / 3)  # total tok_paper / total steps, not the mean of 5 and 30
    assert m.tok_paper / m.tpi == pytest.approx(m.steps_per_attempt)  # Tok = Tpi x steps, as in Table 1


def test_every_test_docs_fidelity_md_names_exists():
    """A ``file.py::test`` (or ``::test`` after a file) cited in docs/fidelity.md is a test there."""
    from scale.paths import REPO_ROOT

    text = (REPO_ROOT / "docs" / "fidelity.md").read_text(encoding="utf-8")
    last, cited = None, 0
    for m in re.finditer(r"`((?:tests/)?[\w/]*test_\w+\.py)?(?:::(\w+))?`|`(tests/[\w/]+)/`", text):
        if m[3]:
            assert (REPO_ROOT / m[3]).is_dir(), m[3]
            continue
        if m[1]:  # a bare file name is one under tests/
            found = [m[1]] if m[1].startswith("tests/") else \
                [str(p.relative_to(REPO_ROOT)) for p in (REPO_ROOT / "tests").rglob(m[1])]
            assert len(found) == 1 and (REPO_ROOT / found[0]).is_file(), f"docs/fidelity.md cites {m[1]}: {found}"
            last = found[0]
        if m[2]:
            assert last and re.search(rf"def {m[2]}\b", (REPO_ROOT / last).read_text()), f"no {last}::{m[2]}"
            cited += 1
    assert cited > 30
