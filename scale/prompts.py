"""Prompt templates are data: the ``prompts`` config group (``configs/prompts/*.yaml``).

Every method and the prompted scorer take a ``prompts`` node (``prompts: ${prompts}`` in their
YAML); :meth:`Prompts.from_config` checks it once, at start-up: every template below must be
there (and nothing else), each a string holding its required placeholders, so a wording that
lost ``{question}`` stops the run before any model call, naming the template and the
placeholder. Placeholders are ``{name}`` for the names a template allows; every other brace
is literal text (``\\boxed{}``, ``{"step1": ...}``), so a wording can be pasted as it is.
Filling is one pass, so a problem that happens to contain ``{step}`` is never re-filled.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from scale.errors import ConfigError


@dataclass(frozen=True)
class Spec:
    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    any_of: tuple[str, ...] = ()  # at least one of these must appear


# Template name -> placeholders (the stage that sends each: configs/prompts/default.yaml).
TEMPLATES: dict[str, Spec] = {
    "cot_system": Spec(),
    "cot_user": Spec(("question",)),
    "decompose_system": Spec(),
    "decompose_user": Spec(("question",)),
    "select_system": Spec(),
    "select_user": Spec(("question", "outlines"), ("n",)),
    "select_outline": Spec(("index",), ("steps", "json"), any_of=("steps", "json")),
    "select_outline_step": Spec(("step",), ("index",)),
    "select_join": Spec(),
    "score_system": Spec(),
    "score_user": Spec(("question", "previous", "step")),
    "score_previous_step": Spec(("step",), ("index",)),
    "score_previous_join": Spec(),
    "score_previous_none": Spec(),
    "solve_system": Spec(),
    "solve_user": Spec(("condition", "process", "step")),
    "solve_process_step": Spec(("step", "answer"), ("index",)),
    "solve_process_join": Spec(),
    "solve_process_none": Spec(),
    "solve_no_answer": Spec(),
    "split_user": Spec(("question",)),
    "infty_first": Spec(("question",)),
    "infty_next": Spec(("question", "summary")),
    "infty_summarize": Spec(("question", "partial")),
}
_LABELS = ("name",)  # keys a prompts node may carry besides templates


def _pattern(names: tuple[str, ...]) -> re.Pattern[str] | None:
    return re.compile(r"\{(" + "|".join(names) + r")\}") if names else None


class Prompts:
    """Checked templates; ``fill(name, **values)`` substitutes the template's placeholders."""

    def __init__(self, templates: Mapping[str, str], label: str = "custom") -> None:
        self.templates = dict(templates)
        self.label = label
        self._patterns = {n: _pattern(s.required + s.optional) for n, s in TEMPLATES.items()}

    @classmethod
    def from_config(cls, node: Any, where: str = "prompts") -> Prompts:
        """A ``prompts`` node (or None: the shipped default), checked as the module says."""
        if node is None:
            return default_prompts()
        if isinstance(node, Prompts):
            return node
        if not isinstance(node, Mapping):
            raise ConfigError(f"{where}: expected a mapping of templates, got {node!r}")
        unknown = sorted(set(node) - set(TEMPLATES) - set(_LABELS))
        if unknown:
            raise ConfigError(f"{where}: unknown template(s) {unknown}; known: {sorted(TEMPLATES)}")
        missing = [name for name in TEMPLATES if name not in node]
        if missing:
            raise ConfigError(
                f"{where}: missing template(s) {missing} (a prompts file may start with "
                "`defaults: [default, _self_]` to keep the shipped wording for the others)")
        for name, spec in TEMPLATES.items():
            text = node[name]
            if not isinstance(text, str):
                raise ConfigError(f"{where}.{name}: expected a string, got {text!r}")
            for placeholder in spec.required:
                if "{" + placeholder + "}" not in text:
                    raise ConfigError(f"{where}.{name}: template lacks the placeholder {{{placeholder}}}")
            if spec.any_of and not any("{" + p + "}" in text for p in spec.any_of):
                options = " or ".join("{" + p + "}" for p in spec.any_of)
                raise ConfigError(f"{where}.{name}: template lacks a placeholder ({options})")
        return cls({name: node[name] for name in TEMPLATES}, label=str(node.get("name", "custom")))

    def __getitem__(self, name: str) -> str:
        return self.templates[name]

    def fill(self, name: str, **values: Any) -> str:
        """The template ``name`` with its placeholders replaced (one pass)."""
        pattern = self._patterns[name]
        text = self.templates[name]
        if pattern is None:
            return text
        return pattern.sub(lambda m: str(values[m.group(1)]), text)

    def chat(self, system: str, user: str, **values: Any) -> list[dict[str, str]]:
        """Messages of one call: the ``system`` template (left out when empty), the ``user`` one."""
        messages = [{"role": "user", "content": self.fill(user, **values)}]
        head = self.fill(system, **values)
        return ([{"role": "system", "content": head}] if head.strip() else []) + messages


@functools.cache
def default_prompts() -> Prompts:
    """The shipped wording, ``configs/prompts/default.yaml``."""
    import yaml

    from scale.paths import CONFIG_DIR

    path = CONFIG_DIR / "prompts" / "default.yaml"
    return Prompts.from_config(yaml.safe_load(path.read_text(encoding="utf-8")), where=str(path))
