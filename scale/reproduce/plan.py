"""The paper's reproduction as one job graph: Table 1's cells, a random control beside every
SCALE cell, Table 2, Figure 2, Table 3's chain and a final report (``slurm/reproduce.sh``).

A :class:`Job` says what it runs (a ``slurm/`` script and its arguments), on what
(``sbatch`` resources), after what (``after_ok`` / ``after_any``: other jobs' names), what it
leaves (``outputs``: run dirs, or the SFT adapter) and, for Table 1's cells, its GPU-hours
from the table in ``slurm/README.md``. Jobs that generate run on served models
(``serve_and_eval.sbatch``); a MajVote cell, which only votes over its CoT cell's records, is
a CPU job without a server (``eval.sbatch``). ``build_plan`` makes the graph; ``scale.reproduce.run``
submits it (``sbatch --dependency``), runs it without Slurm, or prints it.

Every run dir is passed explicitly (``run_dir=``), so the plan knows where each job writes
without composing its config; sweeps' points come from their experiment's
``hydra.sweeper.params`` (composed once here). Models come from ``configs/systems``; the
GPU counts and tensor parallelism are the plan's (they are not in any config).

``rehearse=True`` is the same graph at toy scale: the tiny random Qwen3 served *under the
paper's model names* (``transformers serve`` pinned to it, so the report finds the paper's
rows), two problems, one sample, budgets of tens of tokens, CPU jobs.
"""

from __future__ import annotations

import functools
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from scale.errors import ConfigError
from scale.paths import CONFIG_DIR, REPO_ROOT

PARTS = ("table1", "table2", "figure2", "table3")
METHODS = ("cot", "inftythink", "majority", "scale")  # the Table 1 experiment names' method part
DATASETS = ("aime24", "aime25", "amc23")
# configs/experiment/table1/<model>_<method>_<dataset>: the paper's method names (the GPU-hour table's rows)
METHOD_LABELS = {"cot": "CoT", "inftythink": "InftyThink", "majority": "MajVote", "scale": "SCALE"}
README = REPO_ROOT / "slurm" / "README.md"


@dataclass(frozen=True)
class Servers:
    """How one model (pair) is served: GPUs per job and tensor parallelism per server."""

    gpus: int
    tp: int = 2
    s1_tp: int | None = None
    s2_tp: int | None = None
    s2_server_args: str = ""  # the R1 distills: the window the authors serve them with


# Table 1's rows: configs/systems name -> servers (models come from the systems file).
MODELS: dict[str, Servers] = {
    "qwen3_32b": Servers(gpus=2),
    "qwq_32b": Servers(gpus=4),
    "r1_qwen_32b": Servers(gpus=4, s2_server_args="--max-model-len 16384"),
    "r1_llama_70b": Servers(gpus=6, s1_tp=2, s2_tp=4, s2_server_args="--max-model-len 16384"),
}
SWEEP_MODEL = "qwen3_32b"  # Table 2 and Figure 2 (the paper's Qwen3-32B)
TRACES_MODEL = "qwq_32b"  # Table 3's traces: the QwQ pair
# Table 3's bases: label -> chat model (the paper has 14B, 32B, 72B and Llama-3.3-70B; the
# README's reproduction and this plan run the 32B).
TABLE3_BASES = {"qwen2.5-32b": "Qwen/Qwen2.5-32B-Instruct"}
TUNED_SHARDS = 4

# -- the toy scale of --rehearse ---------------------------------------------------------------
REHEARSE_MODEL = "tiny-qwen3"
REHEARSE_COMMON = ("data.limit=2", "n_samples=1", "systems.s1.sampling.max_new_tokens=24",
                   "systems.s2.sampling.max_new_tokens=48", "systems.s1.context_length=4096",
                   "systems.s2.context_length=4096")
REHEARSE_METHOD = {
    "scale": ("method.n_outlines=2", "method.outline_max_tokens=48", "method.resample_rounds=1"),
    "inftythink": ("method.max_rounds=2", "method.segment_tokens=32", "method.summary_tokens=16"),
    "majority": ("method.k=2",),
    "cot": ("n_samples=2",),  # two samples, so the paired MajVote cell (k=2) has them to vote over
}
REHEARSE_SBATCH = ("--gpus-per-node=0", "--cpus-per-task=1", "--time=00:30:00")
REHEARSE_FIGURE2_BUDGETS = ("32", "48")  # System 2's max new tokens: the sweep's shape, at toy size
REHEARSE_SFT = ("report_to=none", "train.max_steps=2", "train.max_length=256", "data.only_correct=false",
                "data.skip_fallback=false", "data.drop_failures=[]")


@dataclass
class Job:
    name: str  # unique in the plan, e.g. table1/qwen3_32b_cot_aime24
    kind: str  # cell | control | sweep | budget | traces | sft | base | tuned | finalize | report
    part: str  # table1 | table2 | figure2 | table3 | report
    script: str  # a slurm/ script, relative to the repository root
    args: list[str]
    sbatch: list[str] = field(default_factory=list)  # resources
    after_ok: list[str] = field(default_factory=list)
    after_any: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)  # run dirs (an SFT job: its adapter folder)
    local: list[str] | None = None  # the command without Slurm (None: nothing to do there)
    array: str | None = None  # sbatch --array
    gpu_hours: float | None = None  # slurm/README.md's table (Table 1's cells only)

    @property
    def resources(self) -> str:
        return " ".join(self.sbatch + ([f"--array={self.array}"] if self.array else []))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Options:
    only: tuple[str, ...] = PARTS
    models: tuple[str, ...] = tuple(MODELS)
    datasets: tuple[str, ...] = DATASETS
    root: str = "runs"  # every run dir under it (the experiments' own default: runs)
    rehearse: bool = False
    table3_data: str | None = None  # the LIMOPro-style problem file of Table 3's traces
    extra_sbatch: tuple[str, ...] = ()  # appended to every job's resources
    port: int = 18000  # serve jobs get distinct ports from here (two jobs may share a node)

    def check(self) -> None:
        def subset(what: str, given: tuple[str, ...], known: tuple[str, ...]) -> None:
            bad = [x for x in given if x not in known]
            if bad or not given:
                raise ConfigError(f"--{what} {','.join(given)}: unknown {', '.join(bad) or '(empty)'} "
                                  f"(choose from {','.join(known)})")

        subset("only", self.only, PARTS)
        subset("models", self.models, tuple(MODELS))
        subset("datasets", self.datasets, DATASETS)


# -- what the configs say ------------------------------------------------------------------------
@functools.cache
def systems_models(systems: str) -> dict[str, str]:
    """Engine name -> model of ``configs/systems/<systems>.yaml`` (main; or s1 and s2)."""
    path = CONFIG_DIR / "systems" / f"{systems}.yaml"
    if not path.is_file():
        raise ConfigError(f"configs/systems/{systems}.yaml not found")
    engines = OmegaConf.to_container(OmegaConf.load(path)).get("engines") or {}  # type: ignore[union-attr]
    return {str(k): str(v["model"]) for k, v in engines.items()}


@functools.cache
def sweep_params(experiment: str) -> dict[str, list[str]]:
    """The experiment's ``hydra.sweeper.params``, each value split (``data: aime24,aime25``)."""
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base=None):
        cfg = compose(config_name="eval", overrides=[f"experiment={experiment}"], return_hydra_config=True)
    params = OmegaConf.to_container(cfg.hydra.sweeper.params) or {}
    return {str(k): [v.strip() for v in str(val).split(",")] for k, val in params.items()}  # type: ignore[union-attr]


def paper_row(systems: str) -> str:
    """The paper's name of this model row (``scale/report/paper_tables.yaml``'s models)."""
    from scale.report.paper import paper_data

    models = systems_models(systems)
    s1, s2 = models.get("s1", models.get("main")), models.get("s2", models.get("main"))
    for name, pair in paper_data()["models"].items():
        if (pair["s1"], pair["s2"]) == (s1, s2):
            return name
    raise ConfigError(f"configs/systems/{systems}.yaml: models {s1} / {s2} are no paper row")


@functools.cache
def gpu_hour_table(path: Path = README) -> dict[tuple[str, str], float]:
    """(``<paper row> <method>``, dataset) -> GPU-hours, from the table under "Expected
    GPU-hours per Table 1 cell" in slurm/README.md."""
    lines = path.read_text(encoding="utf-8").splitlines()
    out: dict[tuple[str, str], float] = {}
    header: list[str] | None = None
    for line in lines:
        cells = [c.strip() for c in line.strip().strip("|").split("|")] if line.startswith("|") else []
        if cells[:1] == ["model / method"]:
            header = [c.lower() for c in cells]
            continue
        if header is None or not cells or set(cells[0]) <= {"-"}:
            if header is not None and out and not cells:
                break
            continue
        for col, value in zip(header[1:], cells[1:]):
            if col in DATASETS:
                try:
                    out[(cells[0], col)] = float(value)
                except ValueError:
                    raise ConfigError(f"{path}: GPU-hour table row {cells[0]!r}, {col}: not a number "
                                      f"({value!r})") from None
    if not out:
        raise ConfigError(f"{path}: no GPU-hour table (a '| model / method |' header)")
    return out


# -- the graph -------------------------------------------------------------------------------------
class _Builder:
    def __init__(self, opts: Options) -> None:
        self.o = opts
        self.jobs: list[Job] = []
        self._port = opts.port

    def add(self, job: Job) -> Job:
        if any(j.name == job.name for j in self.jobs):
            raise ValueError(f"two jobs named {job.name}")
        job.sbatch = job.sbatch + list(self.o.extra_sbatch)
        self.jobs.append(job)
        return job

    def run_dir(self, *parts: str) -> str:
        return "/".join([self.o.root.rstrip("/"), *parts])

    def toy(self, method: str | None) -> list[str]:
        if not self.o.rehearse:
            return []
        extra = REHEARSE_METHOD[method] if method else ()
        keys = {o.split("=", 1)[0] for o in extra}
        return [*(o for o in REHEARSE_COMMON if o.split("=", 1)[0] not in keys), *extra]

    def served(self) -> list[str]:
        """Client overrides against a served model: at toy scale the tiny model's tokenizer
        (the paper's names do not resolve here) and no top_k (``transformers serve``)."""
        if not self.o.rehearse:
            return []
        from scale.models import resolve_model

        return [f"engine.tokenizer={resolve_model(REHEARSE_MODEL)}", "engine.send_top_k=false"]

    def resources(self, gpus: int) -> list[str]:
        return list(REHEARSE_SBATCH) if self.o.rehearse else [f"--gpus-per-node={gpus}"]

    def serve(self, name: str, kind: str, part: str, systems: str, overrides: list[str], outputs: list[str],
              after_ok: tuple[str, ...] = (), model: str | None = None, gpu_hours: float | None = None) -> Job:
        """A ``serve_and_eval.sbatch`` job: the systems' models on vLLM (``model``: one
        hybrid server for another chat model, Table 3's base)."""
        servers = MODELS.get(systems, Servers(gpus=2))
        models = systems_models(systems)
        args = ["--systems", systems, "--port", str(self._port)]
        self._port += 2
        if model or "main" in models:
            args += ["--model", model or models["main"], "--tp", str(servers.tp)]
        else:
            args += ["--s1-model", models["s1"], "--s2-model", models["s2"]]
            if servers.s1_tp or servers.s2_tp:
                args += ["--s1-tp", str(servers.s1_tp or servers.tp), "--s2-tp", str(servers.s2_tp or servers.tp)]
            else:
                args += ["--tp", str(servers.tp)]
            if servers.s2_server_args and not self.o.rehearse:
                args += ["--s2-server-args", servers.s2_server_args]
        if self.o.rehearse:
            args += ["--health-timeout", "600"]
        args += ["--", *overrides, *self.served()]
        script = "slurm/serve_and_eval.sbatch"
        return self.add(Job(name, kind, part, script, args, self.resources(servers.gpus), list(after_ok),
                            outputs=outputs, local=["bash", script, *args], gpu_hours=gpu_hours))

    def cpu_eval(self, name: str, kind: str, part: str, overrides: list[str], outputs: list[str],
                 after_ok: tuple[str, ...], gpu_hours: float | None = None) -> Job:
        """An ``eval.sbatch`` job: one ``scale-eval`` on CPU, no server, no GPU (a run that
        generates nothing: MajVote voting over its CoT pair's records)."""
        script = "slurm/eval.sbatch"
        args = ["--", *overrides]
        return self.add(Job(name, kind, part, script, args, list(REHEARSE_SBATCH[1:]) if self.o.rehearse else [],
                            list(after_ok), outputs=outputs,
                            local=["scale-eval", "runner.progress=false", *overrides], gpu_hours=gpu_hours))

    # -- Table 1 and its random controls -------------------------------------------------------
    def table1(self) -> None:
        hours = gpu_hour_table()
        for systems in self.o.models:
            row = paper_row(systems)
            for dataset in self.o.datasets:
                cells = {}
                for method in METHODS:
                    cell = f"{systems}_{method}_{dataset}"
                    run_dir = self.run_dir("table1", cell)
                    overrides = [f"experiment=table1/{cell}", f"run_dir={run_dir}", *self.toy(method)]
                    key = (f"{row} {METHOD_LABELS[method]}", dataset)
                    if key not in hours:
                        raise ConfigError(f"{README}: the GPU-hour table has no row {key[0]!r} with a {dataset} "
                                          "column")
                    if method == "majority":
                        # The paper's MajVote votes over the CoT cell's 8 samples (Tok = 8 x CoT): it
                        # generates nothing, so it is a CPU job after that cell, with no server.
                        cot = f"{systems}_cot_{dataset}"
                        overrides.append(f"method.from_run={self.run_dir('table1', cot)}")
                        cells[method] = self.cpu_eval(f"table1/{cell}", "cell", "table1", overrides, [run_dir],
                                                      (f"table1/{cot}",), gpu_hours=hours[key])
                        continue
                    cells[method] = self.serve(f"table1/{cell}", "cell", "table1", systems, overrides, [run_dir],
                                               gpu_hours=hours[key])
                scale_dir = cells["scale"].outputs[0]
                control_dir = self.run_dir("random_control", f"{systems}_random_{dataset}")
                self.serve(f"table1/{systems}_random_{dataset}", "control", "table1", systems,
                           ["experiment=random_control", f"data={dataset}", f"router.match_run={scale_dir}",
                            f"run_dir={control_dir}", *self.toy("scale")],
                           [control_dir], (cells["scale"].name,))

    # -- Table 2: the router sweep, one sweep=shared job ----------------------------------------------
    def table2(self) -> None:
        params = sweep_params("table2_tau_sweep")
        datasets = [d for d in params["data"] if d in self.o.datasets]
        if not datasets:
            return
        # The command line's data= replaces the experiment's list (one set; all of them: none given).
        if 1 < len(datasets) < len(params["data"]):
            raise ConfigError("table2_tau_sweep: give --datasets one of its sets, or all")
        data = [] if len(datasets) == len(params["data"]) else [f"data={datasets[0]}"]
        outputs = [self.run_dir("table2", f"{d}-tau{t}") for d in datasets for t in params["router.tau"]]
        self.serve("table2", "sweep", "table2", SWEEP_MODEL,
                   ["experiment=table2_tau_sweep", "sweep=shared", *data,
                    f"run_dir={self.run_dir('table2', '${data.name}-tau${router.tau}')}", *self.toy("scale")],
                   outputs)

    # -- Figure 2: one job per budget and dataset (sweep=shared shares a plan only across routers) -----
    def figure2(self) -> None:
        key = "systems.s2.sampling.max_new_tokens"
        params = sweep_params("figure2_budget_sweep")
        budgets = REHEARSE_FIGURE2_BUDGETS if self.o.rehearse else params[key]
        for dataset in [d for d in params["data"] if d in self.o.datasets]:
            for budget in budgets:
                run_dir = self.run_dir("figure2", f"{dataset}-s2max{budget}")
                self.serve(f"figure2/{dataset}-s2max{budget}", "budget", "figure2", SWEEP_MODEL,
                           ["experiment=figure2_budget_sweep", f"data={dataset}", f"run_dir={run_dir}",
                            *self.toy("scale"), f"{key}={budget}"], [run_dir])

    # -- Table 3: traces -> SFT -> tuned evaluation; the base beside --------------------------------
    def table3(self) -> None:
        from scale.models import resolve_model

        if self.o.rehearse:
            problems = str(REPO_ROOT / "scale" / "data" / "demo.jsonl")
        else:
            problems = self.o.table3_data or "TABLE3_DATA"  # --table3-data FILE (checked at submission)
        traces = self.run_dir("sft-traces", "qwq-limopro")
        trace_job = self.serve("table3/traces", "traces", "table3", TRACES_MODEL,
                               ["method=scale", f"data.path={problems}", f"run_dir={traces}", *self.toy("scale")],
                               [traces])
        tiny = str(resolve_model(REHEARSE_MODEL)) if self.o.rehearse else None
        for label, model in TABLE3_BASES.items():
            adapter = self.run_dir("sft", label)
            sft_args = [f"base={tiny or model}", f"traces=[{traces}]", f"output_dir={adapter}"]
            sft_args += list(REHEARSE_SFT) if self.o.rehearse else ["train.bf16=true"]
            launcher = ["--procs-per-node", "1"] if self.o.rehearse else []
            sft = self.add(Job(
                f"table3/sft-{label}", "sft", "table3", "slurm/train_difficulty.sbatch",
                [*launcher, "--script", "scripts/sft_on_traces.py", "--", *sft_args],
                list(REHEARSE_SBATCH) if self.o.rehearse else [], [trace_job.name], outputs=[adapter],
                local=[*(["python"] if self.o.rehearse else ["accelerate", "launch"]), "scripts/sft_on_traces.py",
                       *sft_args]))
            for dataset in self.o.datasets:
                base_dir = self.run_dir("table3", f"{label}-{dataset}-base")
                self.serve(f"table3/{label}-{dataset}-base", "base", "table3", "qwen3_32b",
                           ["experiment=table3_base", f"table3.model={model}", f"table3.label={label}",
                            f"data={dataset}", f"run_dir={base_dir}", *self.toy("cot"),
                            # transformers serve refuses repetition_penalty (HTTP 422); vLLM takes it
                            *(["systems.engines.main.generation_overrides=null"] if self.o.rehearse else [])],
                           [base_dir], model=model)
                tuned_dir = self.run_dir("table3", f"{label}-{dataset}-tuned")
                shards = 2 if self.o.rehearse else TUNED_SHARDS
                tuned_args = ["experiment=table3_tuned", f"table3.model={tiny or model}", f"table3.label={label}",
                              f"table3.adapter={adapter}", f"data={dataset}", *self.toy("cot")]
                array = self.add(Job(
                    f"table3/{label}-{dataset}-tuned", "tuned", "table3", "slurm/eval_array.sbatch",
                    ["--run-dir", tuned_dir, "--shards", str(shards), "--", *tuned_args],
                    list(REHEARSE_SBATCH) if self.o.rehearse else ["--gpus-per-node=1"], [sft.name],
                    outputs=[tuned_dir], local=["scale-eval", f"run_dir={tuned_dir}", "runner.progress=false",
                                                *tuned_args],
                    array=f"0-{shards - 1}"))
                self.add(Job(f"table3/{label}-{dataset}-tuned-finalize", "finalize", "table3",
                             "slurm/finalize.sbatch", [tuned_dir],
                             list(REHEARSE_SBATCH[1:]) if self.o.rehearse else [], [array.name], outputs=[tuned_dir]))

    def report(self, plan_file: str) -> None:
        others = [j.name for j in self.jobs]
        self.add(Job("report", "report", "report", "slurm/paper_report.sbatch", [plan_file],
                     list(REHEARSE_SBATCH[1:]) if self.o.rehearse else [], after_any=others,
                     local=["python", "-m", "scale.reproduce", "report", plan_file]))


def plan_file(root: str) -> str:
    return f"{root.rstrip('/')}/reproduce/plan.json"


def build_plan(opts: Options) -> list[Job]:
    """Every job of the reproduction ``opts`` asks for, dependencies before dependants."""
    opts.check()
    b = _Builder(opts)
    if "table1" in opts.only:
        b.table1()
    if "table2" in opts.only:
        b.table2()
    if "figure2" in opts.only:
        b.figure2()
    if "table3" in opts.only:
        b.table3()
    b.report(plan_file(opts.root))
    return b.jobs


def table_total(path: Path = README) -> float:
    """The GPU-hour table's sum over every cell (what ``--dry-run`` of the whole grid totals)."""
    return sum(gpu_hour_table(path).values())


_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def slurm_name(job: Job) -> str:
    """A job name Slurm can put in a log file name (logs/%x-%j.out): no slashes."""
    return "scale-" + _SAFE.sub("-", job.name)
