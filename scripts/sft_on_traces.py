"""LoRA SFT on correct SCALE traces (Table 3), configs/sft.yaml.

    accelerate launch scripts/sft_on_traces.py base=Qwen/Qwen2.5-32B-Instruct \
        traces=[runs/sft-traces/qwq-limopro] output_dir=runs/sft/qwen2.5-32b train.bf16=true
    python scripts/sft_on_traces.py traces=[runs/demo] train.max_steps=5 report_to=none   # one CPU process

Writes OUTPUT_DIR/{adapter_model.safetensors, adapter_config.json, sft.json, sft_data.jsonl,
dataset_card.md} and OUTPUT_DIR/checkpoints/. Evaluate the tuned model against the base:
scale-eval experiment=table3_tuned table3.adapter=OUTPUT_DIR (and experiment=table3_base).
"""

from __future__ import annotations

import logging
import sys

import hydra
from omegaconf import DictConfig, OmegaConf

from scale.cli.hydra_app import run_app
from scale.errors import ScaleError
from scale.paths import CONFIG_DIR
from scale.sft.config import SFTSettings
from scale.sft.train import train


@hydra.main(version_base=None, config_path=str(CONFIG_DIR), config_name="sft")
def _main(cfg: DictConfig) -> None:
    logging.getLogger("scale").setLevel(logging.INFO)
    try:
        summary = train(SFTSettings.from_dict(OmegaConf.to_container(cfg, resolve=True)))  # type: ignore[arg-type]
    except ScaleError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    if summary is not None:
        print(f"{cfg.output_dir}: {summary['examples']} examples, {summary['steps']} steps, "
              f"train loss {summary['train_loss']:.4f} (card: {cfg.output_dir}/dataset_card.md)")


def main() -> None:
    run_app(_main)  # a config mistake (an unknown key, a missing option): one line, exit 2


if __name__ == "__main__":
    main()
