"""The learned difficulty router: step traces -> LoRA sequence classifier -> ``difficulty=classifier``.

- :mod:`scale.train.template`: the one input template (problem, earlier steps, current step),
  truncated from the left of the context; shared by training and the scorer.
- :mod:`scale.train.traces`: probe / SCALE run dirs -> a ``datasets`` folder of labelled steps.
- :mod:`scale.train.run`: ``accelerate launch scripts/train_difficulty.py`` (Trainer + peft LoRA).
- :mod:`scale.train.artifact`: the trained folder (adapter + ``difficulty.json``), written and loaded.
- :mod:`scale.train.metrics`: AUROC, accuracy, ECE, Brier and the validation threshold.
- :mod:`scale.train.common`: what this trainer and SFT (:mod:`scale.sft.train`) share: LoRA and
  training settings, ``report_to``, the output-folder and process-group checks.

Nothing here imports Hydra, trl or datasets at module level, so the GPU check script runs
in an image that has only torch, transformers and peft.
"""
