"""What both trainers share: the classifier (:mod:`scale.train.run`) and SFT (:mod:`scale.sft.train`).

The LoRA and training settings common to both (each trainer subclasses them with its own
defaults and keys), the ``report_to`` choices, the output-folder check (nothing overwritten
silently; ``resume=true`` continues from the last checkpoint) and the process-group check
(a launch that silently fell back to one process per rank stops). No Hydra, trl or datasets
at module level (see :mod:`scale.train`).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Any

from scale.checks import OneOf, Positive, Range, check_fields
from scale.errors import ConfigError
from scale.outputs import check_output_dir

log = logging.getLogger(__name__)

REPORTS = ("wandb_offline", "wandb", "tensorboard", "none")
CHECKPOINTS = "checkpoints"


@dataclass(frozen=True)
class LoraBase:
    """``lora.*``: the adapter's rank, scaling, dropout and the modules it wraps."""

    r: Positive = 16
    alpha: Positive = 32
    dropout: Annotated[float, Range(ge=0, lt=1)] = 0.05
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")

    def __post_init__(self) -> None:
        check_fields(self, "lora")
        if not self.target_modules:
            raise ConfigError("lora.target_modules must name at least one module (e.g. q_proj)")

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


@dataclass(frozen=True)
class TrainBase:
    """``train.*`` keys both trainers take (a subclass sets its own defaults and adds keys)."""

    epochs: float = 3.0
    max_steps: int = -1
    batch_size: Positive = 8
    grad_accum: Positive = 1
    lr: Annotated[float, Range(gt=0)] = 2e-4
    weight_decay: float = 0.0
    warmup_ratio: Annotated[float, Range(ge=0, lt=1)] = 0.05
    bf16: bool = False
    gradient_checkpointing: bool = False
    logging_steps: Positive = 10
    save_total_limit: Positive = 2

    def __post_init__(self) -> None:
        check_fields(self, "train")
        if self.epochs <= 0 and self.max_steps <= 0:
            raise ConfigError("train.epochs or train.max_steps must be > 0")


# Trainer fields transformers renamed: each key goes in under the first name the installed version has
# (``activation_checkpointing`` since ~5.2x; ``gradient_checkpointing`` before, a deprecated alias after).
RENAMED: dict[str, tuple[str, ...]] = {"gradient_checkpointing": ("activation_checkpointing", "gradient_checkpointing")}


def trainer_args(cls: Any, **settings: Any) -> Any:
    """``cls(**settings)`` for ``TrainingArguments`` (or a subclass), by the field names ``cls`` has.

    A feature check, not a version string: a renamed field goes in under the name this
    transformers knows, and a field it lacks is one clear error rather than a TypeError.
    """
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in settings.items():
        name = next((n for n in RENAMED.get(key, (key,)) if n in names), None)
        if name is None:
            raise ConfigError(f"{cls.__name__} of the installed transformers has no field {key!r}; "
                              "see docs/compat.md for the supported versions")
        kwargs[name] = value
    return cls(**kwargs)


@dataclass(frozen=True, kw_only=True)
class RunBase:
    """Top-level keys both trainers take: the output folder, resuming, seed and reporting.

    Keyword-only, so that each trainer's own required keys (its model, its traces) come first.
    """

    output_dir: str
    resume: bool = False
    overwrite: bool = False
    seed: int = 0
    report_to: Annotated[str, OneOf(REPORTS)] = "wandb_offline"
    run_name: str | None = None

    def __post_init__(self) -> None:
        check_fields(self, "")
        check_output_dir(self.output_dir, "output_dir")  # before any model is loaded


def shared_args(cfg: RunBase, t: TrainBase, out: Path) -> dict[str, Any]:
    """The ``TrainingArguments`` both trainers take alike from the shared keys."""
    import torch

    return dict(
        output_dir=str(out / CHECKPOINTS), num_train_epochs=t.epochs, max_steps=t.max_steps,
        per_device_train_batch_size=t.batch_size, gradient_accumulation_steps=t.grad_accum,
        learning_rate=t.lr, weight_decay=t.weight_decay, warmup_steps=t.warmup_ratio,  # a float < 1: a share of the steps
        logging_steps=t.logging_steps, save_total_limit=t.save_total_limit, bf16=t.bf16,
        gradient_checkpointing=t.gradient_checkpointing,  # by the installed name (RENAMED); non-reentrant by default
        use_cpu=not torch.cuda.is_available(),  # CPU ranks join one gloo group (else each trains alone)
        seed=cfg.seed, data_seed=cfg.seed, run_name=cfg.run_name or out.name,
    )


def report_to(kind: str, wandb_project: str, out: Path) -> list[str]:
    """Trainer's ``report_to``: ``wandb_offline`` (files under ``out/wandb``) / ``wandb`` / ``tensorboard`` / ``none``."""
    if kind == "none":
        return []
    if kind == "tensorboard":
        return ["tensorboard"]
    try:
        import wandb  # noqa: F401
    except ImportError:
        raise ConfigError(f"report_to={kind} needs wandb (pip install 'scale-tts[train]'), "
                          "or report_to=none") from None
    os.environ["WANDB_MODE"] = "offline" if kind == "wandb_offline" else "online"
    os.environ.setdefault("WANDB_PROJECT", wandb_project)
    os.environ.setdefault("WANDB_DIR", str(out))
    os.environ.setdefault("WANDB_LOG_MODEL", "false")  # the adapter is the output folder, not a wandb artifact
    return ["wandb"]


def check_world_size(state: Any) -> None:
    """The accelerate process group holds every launched process (else each would train alone and write)."""
    launched = int(os.environ.get("WORLD_SIZE", "1"))
    if state.num_processes != launched:
        raise ConfigError(f"launched as {launched} processes, but the process group has {state.num_processes} "
                          f"({state.distributed_type}); check the accelerate config")


def check_output(out: Path, finished: Sequence[str], resume: bool, overwrite: bool) -> str | None:
    """The checkpoint to resume from, or None; refuses to train over earlier output.

    ``finished``: files in ``out`` that a finished run leaves (an adapter, its card).
    """
    from transformers.trainer_utils import get_last_checkpoint

    ckpt_dir = out / CHECKPOINTS
    last = get_last_checkpoint(str(ckpt_dir)) if ckpt_dir.is_dir() else None
    if resume:
        if last is None:
            log.info("resume=true but no checkpoint in %s: starting from the base model", ckpt_dir)
        return last
    taken = [f for f in finished if (out / f).exists()] + ([CHECKPOINTS] if last is not None else [])
    if taken and not overwrite:
        raise ConfigError(f"output_dir {out} already holds {', '.join(taken)}; "
                          "resume=true continues it, overwrite=true replaces it")
    return None


def clear_output(out: Path, finished: Sequence[str]) -> None:
    """``overwrite=true``: the earlier checkpoints and finished files go (rank 0, before training)."""
    shutil.rmtree(out / CHECKPOINTS, ignore_errors=True)
    for name in finished:
        (out / name).unlink(missing_ok=True)
