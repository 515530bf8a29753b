"""Train the LoRA difficulty classifier on step traces (configs/train_difficulty.yaml).

    accelerate launch scripts/train_difficulty.py model=Qwen/Qwen3-0.6B traces=runs/traces output_dir=runs/difficulty/adapter
    accelerate launch --config_file configs/accelerate/ddp.yaml scripts/train_difficulty.py \
        model=Qwen/Qwen3-0.6B train.bf16=true traces=runs/traces
    python scripts/train_difficulty.py model=tiny-qwen3 traces=runs/traces train.max_steps=20 report_to=none   # one CPU process

Writes OUTPUT_DIR/{adapter_model.safetensors, adapter_config.json, tokenizer files,
difficulty.json} and OUTPUT_DIR/checkpoints/ (resume=true continues from the last one).
Route with it: scale-eval difficulty=classifier difficulty.adapter=OUTPUT_DIR.
"""

from __future__ import annotations

import logging
import sys

import hydra
from omegaconf import DictConfig, OmegaConf

from scale.cli.hydra_app import run_app
from scale.errors import ScaleError
from scale.paths import CONFIG_DIR
from scale.train.config import TrainConfig
from scale.train.run import train


@hydra.main(version_base=None, config_path=str(CONFIG_DIR), config_name="train_difficulty")
def _main(cfg: DictConfig) -> None:
    logging.getLogger("scale").setLevel(logging.INFO)
    try:
        done = train(TrainConfig.from_dict(OmegaConf.to_container(cfg, resolve=True)))  # type: ignore[arg-type]
    except ScaleError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    if done is not None:
        card = done.card
        v = card.metrics["validation"]
        print(f"{cfg.output_dir}: tau {card.tau:.3f} ({card.threshold['rule']}), validation AUROC "
              f"{v['auroc']:.3f}, accuracy {v['accuracy']:.3f}, ECE {v['ece']:.3f}, Brier {v['brier']:.3f}")


def main() -> None:
    run_app(_main)  # a config mistake (an unknown key, a missing option): one line, exit 2


if __name__ == "__main__":
    main()
