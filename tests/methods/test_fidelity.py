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


def test_a_pre_split_rows_problem_text_feeds_every_stage_but_solving(tmp_path):
    """Issue 19 item 1: decompose, select, score and CoT see the row's own `problem`, as the
    authors' code does; only the solve prompts use its condition (and the final question)."""
    statement = "Seven red balls and five blue balls sit in a box. Count all the balls in the box."
    row = {"id": 1, "problem": statement, "conditions": "A box holds 7 red and 5 blue balls.",
           "question": "How many balls are there?", "answer": "12"}
    path = tmp_path / "split.jsonl"
    path.write_text(json.dumps(row) + "\n", encoding="utf-8")
    (problem,) = load_benchmark(path=path)
    eng = generic_engine()
    (attempt,) = run_all(build_method("scale", n_outlines=2), [problem], scripted_systems(eng))
    for stage in ("decompose", "select", "score"):
        assert eng.sent(stage) and all(statement in prompt_text(r) for r in eng.sent(stage)), stage
        assert not any(row["conditions"] in prompt_text(r) for r in eng.sent(stage)), stage
    for r in eng.sent("solve"):
        assert row["conditions"] in prompt_text(r) and statement not in prompt_text(r)
    assert attempt.trace["steps"][-1]["step"] == row["question"]
    cot = generic_engine()
    run_all(build_method("cot_s2"), [problem], scripted_systems(cot))
    (request,) = cot.sent("solve")
    assert statement in prompt_text(request) and row["question"] not in prompt_text(request)


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


def test_figure2_sweeps_six_system2_budgets_on_three_sets_with_system1_fixed():
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from scale.paths import CONFIG_DIR

    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base=None):
        sweep = hydra_compose("eval", ["experiment=figure2_budget_sweep"], return_hydra_config=True)
        params = dict(sweep.hydra.sweeper.params)
    # Issue 19 item 7: the paper's six budgets on its three sets (18 run dirs).
    assert params == {"data": "aime24,aime25,amc23",
                      "systems.s2.sampling.max_new_tokens": "4096,6144,8192,12288,16384,32768"}
    run_dirs = set()
    for data in params["data"].split(","):
        for budget in map(int, params["systems.s2.sampling.max_new_tokens"].split(",")):
            c = compose("experiment=figure2_budget_sweep", f"data={data}",
                        f"systems.s2.sampling.max_new_tokens={budget}")
            assert (c["method"]["name"], c["router"]["name"], c["router"]["tau"], c["n_samples"]) == \
                ("scale", "threshold", 0.5, 8)
            assert c["systems"]["s1"]["sampling"]["max_new_tokens"] == 32768  # System 1 fixed
            assert c["systems"]["s2"]["sampling"]["max_new_tokens"] == budget and c["data"]["name"] == data
            run_dirs.add(c["run_dir"])
    assert len(run_dirs) == 18
    # The Findings' reading of Figure 2 (tau 0.2) is one override away, in run dirs of its own.
    c = compose("experiment=figure2_budget_sweep", "router.tau=0.2")
    assert c["router"]["tau"] == 0.2 and c["run_dir"] == "runs/figure2/aime24-tau0.2-s2max32768"


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


def test_the_routed_pairs_outlines_sample_with_qwen3s_non_thinking_settings():
    """Issue 19 item 11: qwen3_0_6b_routed's System 1 answers greedily, but the outlines it samples
    (T 0.7) keep to Qwen3's non-thinking top_p 0.8 / top_k 20, not the whole vocabulary."""
    from scale.build import build
    from scale.systems import System, Systems, system_config_from_dict

    routed = compose("experiment=classifier_route")["systems"]
    assert routed == compose("systems=qwen3_0_6b_routed")["systems"]
    c = compose("systems=qwen3_0_6b_routed", "method=scale")
    method = build({**c["method"], "n_outlines": 2}, "method")
    eng = generic_engine()
    s1, s2 = (System(system_config_from_dict(m, m, routed[m]), eng) for m in ("s1", "s2"))
    assert s1.config.sampling.greedy
    problem = Problem(id="p", question="Tom has 3 apples and buys 4 more. How many apples now?", answer="7")
    run_all(method, [problem], Systems(s1, s2, {"main": eng}))
    decompose = eng.sent("decompose")
    assert len(decompose) == 2 and all(
        (r.sampling.temperature, r.sampling.top_p, r.sampling.top_k) == (0.7, 0.8, 20) for r in decompose)
    assert all(r.sampling.greedy for r in eng.sent("solve") if not r.thinking)  # S1's answers stay greedy


def test_no_systems_file_says_budget_forcing_is_hf_only():
    """Issue 19 item 15: budget forcing runs on both engines (tests/engine/test_openai_engine.py::
    test_budget_forcing_over_transformers_serve), so no systems file may say otherwise."""
    from scale.paths import CONFIG_DIR

    files = sorted((CONFIG_DIR / "systems").glob("*.yaml"))
    budgets = [f for f in files if "budget:" in f.read_text()]
    assert budgets and not [f.name for f in budgets if "HF engine only" in f.read_text()]
    assert all("engine=openai" in f.read_text() for f in budgets)


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
    system, user = select.messages  # the authors' shape: the criteria in the system message
    assert system["role"] == "system" and all(
        word in system["content"] for word in ("logical correctness", "clarity", "completeness", "relevance",
                                               "simplicity"))
    assert all(f"version{i}: {{" in user["content"] for i in (1, 2, 3)) and problem.question in user["content"]
    assert attempt.trace["chosen"] == 0 and "select_parse" not in attempt.failures  # "Outline 1"


PAPER_INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{}."


@pytest.mark.parametrize("setup", ["qwen3_32b", "qwq_32b"])
def test_table1_cells_send_the_authors_message_shapes(setup):
    """Issue 19 item 2: prompts=authors_shape (every Table 1 cell): outline rules, selection
    criteria and the difficulty rubric are system messages and the problem the bare user turn,
    as in the authors' code; solving and CoT send the instruction as a system message (Qwen3)
    or fold it before the problem (QwQ/R1: no system message)."""
    from scale.build import build
    from scale.systems import System, Systems, system_config_from_dict

    problem = Problem(id="p", question="Tom has 3 apples and buys 4 more. How many apples now?", answer="7")
    c = compose(f"experiment=table1/{setup}_scale_aime24")
    assert c["prompts"]["name"] == "authors_shape"
    method = build({**c["method"], "n_outlines": 2}, "method")
    eng = generic_engine()
    s1, s2 = (System(system_config_from_dict(m, m, c["systems"][m]), eng) for m in ("s1", "s2"))
    run_all(method, [problem], Systems(s1, s2, {"main": eng}))

    def shape(request):
        return [(m["role"], m["content"]) for m in request.messages]

    for r in eng.sent("decompose"):
        (role, rules), user = shape(r)
        assert role == "system" and '{"step1": "...", "step2": "...", ...}' in rules
        assert user == ("user", problem.question)  # the bare problem
    for r in eng.sent("score"):
        (role, rubric), (_, user) = shape(r)
        assert role == "system" and "0.5" in rubric and "number" in rubric
        assert user.startswith(f"Problem: {problem.question}\n") and "Next step: " in user
    first_score = shape(eng.sent("score")[0])[1][1]
    assert "Plan so far: \n" in first_score  # no earlier step: an empty context, as the authors'
    for r in eng.sent("solve"):
        messages = shape(r)
        if r.sampling.temperature == 0.6 and setup == "qwq_32b":  # QwQ: no system message
            ((role, text),) = messages
            assert role == "user" and text.startswith(PAPER_INSTRUCTION + "\nConditions: ")
        else:
            assert messages[0] == ("system", PAPER_INSTRUCTION) and messages[1][1].startswith("Conditions: ")
    cot = compose(f"experiment=table1/{setup}_cot_aime24")
    eng = generic_engine()
    s1, s2 = (System(system_config_from_dict(m, m, cot["systems"][m]), eng) for m in ("s1", "s2"))
    run_all(build(cot["method"], "method"), [problem], Systems(s1, s2, {"main": eng}))
    (request,) = eng.sent("solve")
    expected = ([("user", PAPER_INSTRUCTION + "\n" + problem.question)] if setup == "qwq_32b"
                else [("system", PAPER_INSTRUCTION), ("user", problem.question)])
    assert shape(request) == expected


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
    """Issue 19 item 5: the last round is never summarised, so r rounds give Tpi at most
    segment + summary x (r - 1) / r (not segment + summary); every paper cell is within reach."""
    from scale.report.paper import paper_data

    m = compose("experiment=table1/qwq_32b_inftythink_aime25")["method"]
    segment, summary, max_rounds = m["segment_tokens"], m["summary_tokens"], m["max_rounds"]
    assert (max_rounds, segment, summary) == (8, 8192, 4096)

    def reach(rounds: float) -> float:  # tokens per round when every call uses its whole budget
        return (rounds * segment + (rounds - 1) * summary) / rounds

    cells = [row["InftyThink"][d] for row in paper_data()["table1"].values() for d in ("aime24", "aime25", "amc23")]
    assert max(tpi for _, _, tpi in cells) == 10114
    for _acc, tok, tpi in cells:
        rounds = tok / tpi  # the paper's Tok / Tpi
        assert rounds <= max_rounds and reach(rounds) >= tpi, (tok, tpi)
    assert reach(73473 / 10114) == pytest.approx(11724, abs=1)  # QwQ AIME25, the largest Tpi
    assert 8192 + 2048 * (73473 / 10114 - 1) / (73473 / 10114) < 10114  # the old 2048 could not


@pytest.mark.parametrize(("setup", "summary_mode", "template_kwargs"),
                         [("qwen3_32b", "s1", {"enable_thinking": False}), ("qwq_32b", "s2", {})])
def test_inftythink_summarises_a_hybrid_with_thinking_off(setup, summary_mode, template_kwargs):
    """Issue 19 item 4: Qwen3-32B's summaries come from the same model with thinking off (its
    systems file: summary_system s1), so a summary is written, not cut inside <think>; QwQ
    (always thinking) summarises on its own System 2."""
    from scale.build import build
    from scale.systems import System, Systems, system_config_from_dict

    c = compose(f"experiment=table1/{setup}_inftythink_aime24")
    assert c["method"]["summary_system"] == ("s1" if setup == "qwen3_32b" else None)
    method = build({**c["method"], "max_rounds": 2}, "method")
    eng = ScriptedEngine([Rule(stage="summarize", reply="SUMMARY"),
                          Rule(stage="solve", reply="", reasoning="a thought cut by the segment budget")])
    s1, s2 = (System(system_config_from_dict(m, m, c["systems"][m]), eng) for m in ("s1", "s2"))
    problem = Problem(id="p", question="What is 6 times 7?", answer="42")
    (attempt,) = run_all(method, [problem], Systems(s1, s2, {"main": eng}))
    (summarize,) = eng.sent("summarize")
    assert dict(summarize.template_kwargs) == template_kwargs  # QwQ: no switch, it always thinks
    assert summarize.sampling.max_new_tokens == 4096
    assert [(c.stage, c.mode) for c in attempt.ledger.calls] == [
        ("solve", "s2"), ("summarize", summary_mode), ("solve", "s2")]
    assert attempt.trace["summary_system"] == summary_mode and "summary_missing" not in attempt.failures


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


def test_no_file_calls_tau_05_the_papers():
    """Issue 19 item 12: the paper states no tau for Table 1; 0.5 is the authors' README default."""
    from scale.paths import CONFIG_DIR, REPO_ROOT

    threshold = (CONFIG_DIR / "router" / "threshold.yaml").read_text()
    assert "README default" in threshold and compose("router=threshold")["router"]["tau"] == 0.5
    for path in (CONFIG_DIR / "router" / "threshold.yaml", REPO_ROOT / "scale" / "routing.py"):
        text = path.read_text()
        assert "paper's default" not in text and "the paper, tau = 0.5" not in text, path


# --------------------------------------------------------------------------- Table 3


@pytest.mark.parametrize("engine", ["hf", "openai"])
def test_table3_base_and_tuned_decode_as_the_authors_on_either_engine(engine):
    """Issue 19 item 3: no system message, the instruction then the problem, T 0.6 with top_p and
    top_k off, at most 32768 - prompt - 200 new tokens, repetition_penalty pinned at 1.0 on both
    engines; base and tuned differ only in the adapter; SFT trains on the same prompt."""
    from scale.engine.openai_engine import OpenAIEngine
    from scale.systems import System, system_config_from_dict

    base = compose("experiment=table3_base", f"engine={engine}")
    tuned = compose("experiment=table3_tuned", f"engine={engine}")
    assert base["prompts"]["name"] == "table3" and base["method"]["system"] == "s1"
    assert base["prompts"] == compose(config_name="sft")["prompts"]  # the SFT examples' prompt
    for c in (base, tuned):
        s1 = system_config_from_dict("s1", "s1", c["systems"]["s1"])
        assert (s1.sampling.temperature, s1.sampling.top_p, s1.sampling.top_k) == (0.6, 1.0, 0)
        assert (s1.sampling.max_new_tokens, s1.context_length, s1.context_margin) == (32768, 32768, 200)
        assert s1.system_message is False
        assert c["systems"]["engines"]["main"]["generation_overrides"] == {"repetition_penalty": 1.0}
    strip = {"table3", "name", "run_dir"}
    assert {k: v for k, v in base.items() if k not in strip | {"systems"}} == \
        {k: v for k, v in tuned.items() if k not in strip | {"systems"}}
    assert {**base["systems"]["engines"]["main"], "adapter": "A"} == {**tuned["systems"]["engines"]["main"],
                                                                      "adapter": "A"}
    problem = Problem(id="p", question="What is 6 times 7?", answer="42")
    method = build_method("cot_s1", "prompts=table3")
    messages = method.prompts.chat("cot_system", "cot_user", question=problem.question)
    request = System(system_config_from_dict("s1", "s1", base["systems"]["s1"]),
                     OpenAIEngine("http://127.0.0.1:1/v1", "m")).request(messages, stage="solve")
    assert [dict(m) for m in request.messages] == [
        {"role": "user", "content": PAPER_INSTRUCTION + "\n" + problem.question}]
    if engine == "openai":
        from scale.systems import build_systems

        eng = build_systems(base["systems"], {**base["engine"], "base_url": "http://127.0.0.1:1/v1"},
                            only={"s1"}).engines["main"]
        body = eng.body(request)
        assert (body["temperature"], body["top_p"], body["repetition_penalty"]) == (0.6, 1.0, 1.0)
        assert "top_k" not in body and body["messages"] == [dict(m) for m in request.messages]


@pytest.mark.tiny
def test_table3_loads_a_model_whose_generation_config_penalises_repetition(tiny_model_dir, tmp_path):
    """Qwen2.5-Instruct's generation_config says repetition_penalty 1.05: engine=hf refuses such a
    model unless told; table3_base pins 1.0 (as its requests say on engine=openai), so it loads."""
    import shutil

    from scale.systems import build_systems

    model = shutil.copytree(tiny_model_dir, tmp_path / "penalised")
    config = json.loads((model / "generation_config.json").read_text())
    (model / "generation_config.json").write_text(json.dumps({**config, "repetition_penalty": 1.05}))
    c = compose("experiment=table3_base", f"table3.model={model}", "engine=hf", "engine.device=cpu")
    systems = build_systems(c["systems"], c["engine"], only={"s1"})
    assert systems.engines["main"].model.generation_config.repetition_penalty == 1.0
    asyncio.run(systems.aclose())
    c["systems"]["engines"]["main"]["generation_overrides"] = None
    with pytest.raises(ConfigError, match=r"its generation_config sets repetition_penalty=1.05"):
        build_systems(c["systems"], c["engine"], only={"s1"})
