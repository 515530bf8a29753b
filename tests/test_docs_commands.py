"""Every command and override that README.md and docs/ mention is run or composed here.

Commands come from fenced code blocks and inline code spans. Evaluation commands
(``scale-eval``, ``python -m scale.cli.eval``, ``scale-demo``) and bare overrides
(``router.tau=0.3``) are composed through Hydra against the shipped configs, as the CLI
composes them, and their method/router/scorer are built; ``make`` targets are dry-run;
console scripts and argparse ``scripts/*.py`` and ``benchmarks/*.py`` have their documented
flags parsed by their own parser (stopped right after parsing: a misspelt flag fails), and Hydra scripts have their
overrides composed against the script's own config (a misspelt key fails); ``accelerate
launch`` flags go through accelerate's parser; ``sbatch slurm/X.sbatch`` and
``bash slurm/X.sh`` lines get ``bash -n`` and ``--help``, and the overrides after their ``--``
are composed. A command of a kind this file does not know fails the test, so new docs get
checked too; so does a span that looks like an override (``key=value``) whose key is no config
group or key, unless it is listed in NOT_OVERRIDES (prose) or SHORT_FORMS.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import re
import runpy
import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from unittest import mock

import pytest
from hydra import compose, initialize_config_dir
from hydra.errors import HydraException
from omegaconf.errors import OmegaConfBaseException

from scale.build import build
from scale.paths import CONFIG_DIR, REPO_ROOT
from scale.testing.config import resolve_job

DOCS = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md")), REPO_ROOT / "slurm" / "README.md"]
# Top-level configs a bare override may belong to (eval.yaml, and e.g. train_difficulty.yaml).
PRIMARY_CONFIGS = sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))
EVAL = ("scale-eval", "python -m scale.cli.eval", "scale-demo", "python -m scale.cli.demo")
HELP = ("scale-finalize", "python -m scale.cli.finalize", "scale-report", "python -m scale.cli.report")
# Shell lines that are about the environment, not this project's interface.
SKIP = ("pip ", "pip3 ", "cd ", "export ", "git ", "source ", "ln ", "cp ", "ls ", "cat ", ".venv/bin/pip ")
OVERRIDE = re.compile(r"^[+~]{0,2}(?P<key>[a-z_][\w.]*(?:/[\w.]+)?)=\S.*$")
GROUPS = sorted(p.name for p in CONFIG_DIR.iterdir() if p.is_dir())
# Spans shaped like ``key=value`` that are prose, not overrides (a value, an example answer).
NOT_OVERRIDES = {
    'finish_reason="context_overflow"',  # README.md: what the engines return
    'reason="no_answer"',  # docs/grading.md: a verdict's reason
    'reason="timeout"',  # docs/grading.md: a verdict's reason
    "x=5",  # docs/grading.md: an answer that matches `5`
}
# An override written short in prose -> the override it stands for, which is composed instead.
SHORT_FORMS = {
    "scheduler=static": "engine.scheduler=static",  # README.md, next to `engine.device_map=auto`
}


def _roots() -> set[str]:
    """Keys an override may start with: config groups and every primary config's top-level keys."""
    import yaml

    roots = set(GROUPS) | {"hydra"}
    for name in PRIMARY_CONFIGS:
        data = yaml.safe_load((CONFIG_DIR / f"{name}.yaml").read_text()) or {}
        roots |= {k for k in data if k != "defaults"}
    return roots


ROOTS = _roots()
PLACEHOLDER = re.compile(r"\b(?:[A-Z][A-Z0-9_]{1,}|N|M|K|X)\b")


def _spans(text: str) -> tuple[list[str], list[str]]:
    """(command lines from fenced blocks, inline code spans) of one Markdown file."""
    lines: list[str] = []
    for block in re.findall(r"```[a-z]*\n(.*?)```", text, re.S):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            line = line.split(" #", 1)[0].strip()
            if line and not line.startswith("#"):
                lines.append(line)
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    inline = [s.strip() for s in re.findall(r"`([^`\n]+)`", prose)]
    return lines, inline


def _items() -> list[tuple[str, str]]:
    out: set[tuple[str, str]] = set()
    for doc in DOCS:
        lines, inline = _spans(doc.read_text(encoding="utf-8"))
        name = doc.relative_to(REPO_ROOT).as_posix()
        for line in lines:
            if _kind(line) is not None:
                out.add((name, line))
        for span in inline:
            if _kind(span) is not None:
                out.add((name, span))
    return sorted(out)


def _kind(text: str) -> str | None:
    if text.startswith(EVAL):
        return "eval"
    if text.startswith(HELP):
        return "help"
    if re.match(r"^make [a-z]", text) or text == "make":
        return "make"
    if re.match(r"^(python|\.venv/bin/python|accelerate launch.*) (scripts|benchmarks)/\w+\.py", text):
        return "script"
    if re.match(r"^sbatch\s.*?\bslurm/\w+\.sbatch\b", text) or re.match(r"^bash slurm/\w+\.sh\b", text):
        return "slurm"
    if text.startswith(SKIP):
        return None
    tokens = text.split()
    matches = [OVERRIDE.match(t) for t in tokens]
    if tokens and all(matches):
        if text in SHORT_FORMS or all(m["key"].split(".")[0].split("/")[0] in ROOTS for m in matches):
            return "override"
        return None if text in NOT_OVERRIDES else "unknown_override"
    if re.match(r"^(scale-\w+ |sbatch \S+\.sbatch|bash slurm/)", text):
        return "unknown"
    return None


ITEMS = _items()


@pytest.fixture(scope="module", autouse=True)
def _hydra():
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base=None):
        yield


def _compose(config_name: str, overrides: list[str]) -> dict:
    # With the hydra node, so ${hydra:runtime.choices...} in run names resolves as in a real run.
    return resolve_job(compose(config_name=config_name, overrides=overrides, return_hydra_config=True))


def _eval_overrides(command: str) -> list[str]:
    words = shlex.split(command)
    prog = 3 if words[0] == "python" else 1
    args = [w for w in words[prog:] if w not in ("-m", "--multirun", "...")]
    if "--config-dir" in args:  # a folder on the user's disk (the flag itself: test_packaging.py)
        i = args.index("--config-dir")
        del args[i:i + 2]
        args = [a for a in args if not a.startswith("experiment=") and not _users_option(a)]
    if words[0] in ("scale-demo",) or "scale.cli.demo" in command:
        args = ["experiment=demo", *args]
    return args


def _users_option(arg: str) -> bool:
    """``prompts=mine`` next to --config-dir: a group option that lives in the user's folder."""
    group, eq, option = arg.partition("=")
    return bool(eq) and group in GROUPS and not (CONFIG_DIR / group / f"{option}.yaml").is_file()


def _build_parts(c: dict, command: str) -> None:
    """Build what needs no model: the method (with its scorer and router)."""
    if PLACEHOLDER.search(command) or c.get("router", {}).get("match_run") or \
            c.get("difficulty", {}).get("name") == "classifier":
        return  # a placeholder value, a run dir or an adapter that only exists on the user's disk
    build(c["method"], "method")


def _alternatives(tokens: list[str]) -> list[list[str]]:
    """``method=cot_s1|cot_s2`` is prose for two overrides: check each."""
    out: list[list[str]] = [[]]
    for token in tokens:
        key, _, value = token.partition("=")
        options = value.split("|") if "|" in value and not value.startswith(("[", "{")) else [value]
        out = [[*prefix, f"{key}={v}"] for prefix in out for v in options]
    return out


def _check_override(doc: str, text: str, overrides: list[str]) -> None:
    """An inline override must compose with some primary config, maybe after picking the
    option of its group it belongs to (``router.match_run=...`` needs ``router=random``)."""
    errors = []
    for name in PRIMARY_CONFIGS:
        group = overrides[0].lstrip("+~").split(".")[0]
        choices = [[]] + ([[f"{group}={o.stem}"] for o in sorted((CONFIG_DIR / group).glob("*.yaml"))]
                          if name == "eval" and group in GROUPS and "." in overrides[0] else [])
        for extra in choices:
            try:
                c = _compose(name, [*extra, *overrides])
            except (HydraException, OmegaConfBaseException) as err:
                errors.append(f"{name} {extra}: {str(err).splitlines()[0]}")
                continue
            if name == "eval":
                _build_parts(c, text)
            return
    pytest.fail(f"{doc}: `{text}` composes with no config: {errors}")


def _run(cmd: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, check=False)


def _check_slurm(doc: str, text: str) -> None:
    """A slurm/ script: there, valid bash, --help; the overrides after ``--`` compose with the
    config the job runs (lines with shell variables, e.g. in a loop, are not composed)."""
    words = shlex.split(text)
    script = next(w for w in words if w.startswith("slurm/"))
    assert (REPO_ROOT / script).is_file(), f"{doc}: `{text}`: no {script}"
    for cmd in (["bash", "-n", script], ["bash", script, "--help"]):
        proc = _run(cmd)
        assert proc.returncode == 0, f"{doc}: `{text}`: {' '.join(cmd)}: {proc.stderr[-500:]}"
    if script == "slurm/reproduce.sh":  # the plan is built and printed, nothing submitted
        proc = _run(["bash", *words[1:], *([] if "--dry-run" in words else ["--dry-run"])])
        assert proc.returncode == 0 and "GPU-hours:" in proc.stdout, f"{doc}: `{text}`: {proc.stderr[-500:]}"
        return
    if "--" not in words or "$" in text:
        return
    after = words[words.index("--") + 1:]
    name = script.rsplit("/", 1)[-1]
    if name == "train_difficulty.sbatch":
        config = "sft" if "scripts/sft_on_traces.py" in words else "train_difficulty"
        _compose(config, after)
        return
    extra = ["engine=openai", f"systems={words[words.index('--systems') + 1]}"] \
        if name == "serve_and_eval.sbatch" else []
    _build_parts(_compose("eval", [*extra, *after]), text)


class _Parsed(Exception):
    def __init__(self, namespace: argparse.Namespace) -> None:
        super().__init__("parsed")
        self.namespace = namespace


def _parse_only(doc: str, text: str, run: Callable[[], object]) -> argparse.Namespace:
    """Run a command's entry point until its own argparse parser has parsed the arguments,
    and stop there: a flag the parser does not know fails with argparse's message."""
    real = argparse.ArgumentParser.parse_args

    def parse(self, args=None, namespace=None):
        raise _Parsed(real(self, args, namespace))

    err = io.StringIO()
    with mock.patch.object(argparse.ArgumentParser, "parse_args", parse), contextlib.redirect_stderr(err):
        try:
            run()
        except _Parsed as parsed:
            return parsed.namespace
        except SystemExit as exit_:
            pytest.fail(f"{doc}: `{text}`: its parser refused it (exit {exit_.code}): {err.getvalue()[-500:]}")
    pytest.fail(f"{doc}: `{text}`: the command returned without parsing its arguments")


def _check_script(doc: str, text: str) -> None:
    """``[accelerate launch FLAGS] [python] scripts/X.py ARGS`` (or benchmarks/X.py): accelerate's
    flags through its own parser; a Hydra script's overrides composed against its config; an
    argparse script's flags parsed by its parser."""
    words = shlex.split(text)
    i = next(i for i, w in enumerate(words) if w.startswith(("scripts/", "benchmarks/")) and w.endswith(".py"))
    script, args = words[i], words[i + 1:]
    assert (REPO_ROOT / script).is_file(), f"{doc}: `{text}`: no {script}"
    if words[:2] == ["accelerate", "launch"]:
        from accelerate.commands.launch import launch_command_parser

        flags = words[2:i]
        parsed = _parse_only(doc, text, lambda: launch_command_parser().parse_args([*flags, script, *args]))
        if parsed.config_file:
            assert (REPO_ROOT / parsed.config_file).is_file(), f"{doc}: `{text}`: no {parsed.config_file}"
    source = (REPO_ROOT / script).read_text(encoding="utf-8")
    hydra_config = re.search(r"@hydra\.main\(.*config_name=\"(\w+)\"", source)
    if hydra_config:
        _compose(hydra_config[1], args)
        return
    assert "argparse" in source, f"{doc}: `{text}`: {script} is neither a Hydra nor an argparse script"

    def run_script() -> None:
        with mock.patch.object(sys, "argv", [script, *args]):
            runpy.run_path(str(REPO_ROOT / script), run_name="__main__")

    _parse_only(doc, text, run_script)


def _check_cli(doc: str, text: str) -> None:
    """A console script: its documented flags parsed by its own parser (a bare name: --help)."""
    words = shlex.split(text)
    prog = 3 if words[0] == "python" else 1
    module = "scale.cli." + (words[2].split(".")[-1] if words[0] == "python" else words[0].split("-", 1)[1])
    if len(words) == prog:  # the command named in prose
        proc = _run([sys.executable, "-m", module, "--help"])
        assert proc.returncode == 0, f"{doc}: `{text}`: {proc.stderr[-500:]}"
        return
    main = importlib.import_module(module).main
    _parse_only(doc, text, lambda: main(words[prog:]))


def test_docs_mention_commands():
    kinds = {_kind(t) for _, t in ITEMS}
    assert {"eval", "make", "override"} <= kinds, kinds


@pytest.mark.parametrize(("doc", "text"), ITEMS, ids=[f"{d}: {t[:60]}" for d, t in ITEMS])
def test_documented_command_runs_or_composes(doc, text):
    kind = _kind(text)
    if kind == "eval":
        c = _compose("eval", _eval_overrides(text))
        _build_parts(c, text)
    elif kind == "override":
        for variant in _alternatives(shlex.split(SHORT_FORMS.get(text, text))):
            _check_override(doc, text, variant)
    elif kind == "unknown_override":
        pytest.fail(f"{doc}: `{text}` looks like an override but its key is no config group or key; "
                    "fix the doc, or list it in NOT_OVERRIDES (prose) or SHORT_FORMS")
    elif kind == "make":
        target = text.split()[1] if len(text.split()) > 1 else "help"
        proc = _run(["make", "-n", target.split("=")[0]] if "=" not in target else ["make", "-n", *text.split()[1:]])
        assert proc.returncode == 0, f"{doc}: `{text}`: {proc.stderr[-500:]}"
    elif kind == "help":
        _check_cli(doc, text)
    elif kind == "slurm":
        _check_slurm(doc, text)
    elif kind == "script":
        _check_script(doc, text)
    else:
        pytest.fail(f"{doc}: `{text}` is a command this test does not know how to check; teach it")


def test_placeholder_pattern_sees_placeholders():
    assert PLACEHOLDER.search("router.match_run=RUN_DIR") and not PLACEHOLDER.search("router.tau=0.3")
    assert Path(CONFIG_DIR / "eval.yaml").is_file()


def test_a_span_with_an_unknown_key_is_checked_not_skipped():
    assert _kind("no_such_group.x=1") == "unknown_override"
    assert _kind("router.tau=0.3") == "override" and _kind("scheduler=static") == "override"
    assert all(_kind(t) is None for t in NOT_OVERRIDES)


@pytest.mark.parametrize(("text", "why"), [
    ("python scripts/train_difficulty.py traces=runs/traces train.bf61=true", "train.bf61"),
    ("accelerate launch scripts/sft_on_traces.py base=m traces=[x] output_dir=y trian.bf16=true", "trian"),
    ("accelerate launch --num_proceses 2 scripts/train_difficulty.py traces=runs/traces", "num_proceses"),
    ("python scripts/build_traces.py runs/probe --outt runs/traces", "--outt"),
    ("scale-report runs/table3 --out reports/table3 --tunned a=b", "--tunned"),
    ("scale-finalize RUN_DIR --bogus", "--bogus"),
])
def test_a_misspelt_key_or_flag_in_a_documented_command_fails(text, why):
    """The checks above can fail: a misspelt override or flag is caught, naming it."""
    check = _check_cli if _kind(text) == "help" else _check_script
    with pytest.raises((pytest.fail.Exception, HydraException, OmegaConfBaseException), match=re.escape(why)):
        check("doc.md", text)
