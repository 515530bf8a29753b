"""Supervised fine-tuning on SCALE traces (the paper's Table 3).

``scripts/sft_on_traces.py`` (``configs/sft.yaml``): correct attempts of SCALE run dirs become
chat examples, the staged solution as one assistant response (:mod:`scale.sft.data`, with a
dataset card counting every filter); :mod:`scale.sft.train` trains a LoRA adapter with trl's
``SFTTrainer``. The tuned model (base + adapter, ``engine.adapter``) is then evaluated with
CoT on System 1 against the base: ``configs/experiment/table3_*.yaml``.
"""

from scale.sft.config import SFTSettings
from scale.sft.data import DatasetCard, build_examples, staged_solution, write_dataset

__all__ = ["DatasetCard", "SFTSettings", "build_examples", "staged_solution", "write_dataset"]
