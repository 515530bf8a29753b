"""GPU check of the difficulty classifier: LoRA training and scoring speed on a real model shape.

    python benchmarks/gpu_check_difficulty.py --json-out runs/bench/difficulty_gpu.json      # H200: ~3 min
    python benchmarks/gpu_check_difficulty.py --shape tiny --device cpu --dtype float32 \
        --seq 32 --batch 4 --steps 2 --warmup 1 --score-batch 8 --score-reps 1           # CPU smoke test

Random-initialised Qwen3-0.6B shape (no download), the project's own classifier code
(``scale.train.model``: 2-way score head + peft LoRA on q/k/v/o, class-weighted loss):

- training: batch ``--batch`` x ``--seq`` tokens, AdamW on the LoRA and head weights,
  bf16 autocast; samples/s over ``--steps`` timed steps after ``--warmup``; peak memory.
- scoring: ``scale.train.model.predict`` (the scorer's forward; weights in bf16 as the
  scorer loads them on a GPU) on ``--score-batch`` rows of random lengths in
  [``--seq``/4, ``--seq``]; steps scored per second.

Imports only scale modules, torch, transformers and peft (no Hydra, trl or datasets), so it
runs in a bare GPU image. One JSON object on stdout (and in ``--json-out``).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch
from transformers import Qwen3Config

from scale.train.model import LoraSettings, add_lora, base_classifier, pick_device, predict
from scale.train.trainer import weighted_loss

SHAPES = {
    # Qwen/Qwen3-0.6B's config.json
    "qwen3-0.6b": dict(vocab_size=151936, hidden_size=1024, intermediate_size=3072, num_hidden_layers=28,
                       num_attention_heads=16, num_key_value_heads=8, head_dim=128, max_position_embeddings=40960,
                       rope_theta=1000000.0, tie_word_embeddings=True, rms_norm_eps=1e-6),
    "tiny": dict(vocab_size=4096, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, head_dim=16, max_position_embeddings=1024, tie_word_embeddings=True),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shape", choices=sorted(SHAPES), default="qwen3-0.6b")
    p.add_argument("--device", default="auto", help="auto | cuda | cpu")
    p.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float32"],
                   help="bfloat16: fp32 master weights with bf16 autocast (Trainer's bf16=true)")
    p.add_argument("--seq", type=int, default=512, help="tokens per training row (max length when scoring)")
    p.add_argument("--batch", type=int, default=32, help="training rows per step")
    p.add_argument("--steps", type=int, default=20, help="timed training steps")
    p.add_argument("--warmup", type=int, default=3, help="untimed training steps first")
    p.add_argument("--gradient-checkpointing", action="store_true")
    p.add_argument("--score-batch", type=int, default=256, help="rows per scoring forward")
    p.add_argument("--score-reps", type=int, default=5, help="timed scoring forwards")
    p.add_argument("--lora-r", type=int, default=16)
    p.add_argument("--json-out", type=Path, default=None)
    return p.parse_args(argv)


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def train_speed(model, args, device: str, autocast: bool) -> dict:
    vocab = model.config.vocab_size
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4)
    weights = [0.7, 1.8]  # a typical balanced weighting (30% hard)
    gen = torch.Generator().manual_seed(0)
    model.train()

    def step() -> float:
        ids = torch.randint(1, vocab, (args.batch, args.seq), generator=gen).to(device)
        mask = torch.ones_like(ids)
        labels = torch.randint(0, 2, (args.batch,), generator=gen).to(device)
        with torch.autocast(device_type=device.split(":")[0], dtype=torch.bfloat16, enabled=autocast):
            logits = model(input_ids=ids, attention_mask=mask).logits
        loss = weighted_loss(logits, labels, weights)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return float(loss.detach())

    for _ in range(args.warmup):
        step()
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    sync(device)
    start = time.perf_counter()
    losses = [step() for _ in range(args.steps)]
    sync(device)
    seconds = time.perf_counter() - start
    out = {"steps": args.steps, "batch": args.batch, "seq": args.seq, "seconds": round(seconds, 3),
           "samples_per_s": round(args.steps * args.batch / seconds, 2),
           "tokens_per_s": round(args.steps * args.batch * args.seq / seconds, 1),
           "loss_first": losses[0], "loss_last": losses[-1],
           "trainable_params": sum(p.numel() for p in params),
           "total_params": sum(p.numel() for p in model.parameters())}
    if device.startswith("cuda"):
        out["peak_memory_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    return out


def score_speed(model, args, device: str, pad_id: int) -> dict:
    vocab = model.config.vocab_size
    rng = random.Random(0)
    rows = [[rng.randrange(1, vocab) for _ in range(rng.randint(args.seq // 4, args.seq))]
            for _ in range(args.score_batch)]
    model.eval()
    predict(model, rows, pad_id, device, batch_size=args.score_batch)  # warm-up (kernels, allocator)
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    sync(device)
    start = time.perf_counter()
    for _ in range(args.score_reps):
        scores = predict(model, rows, pad_id, device, batch_size=args.score_batch)
    sync(device)
    seconds = time.perf_counter() - start
    out = {"rows": args.score_batch, "reps": args.score_reps, "mean_tokens": sum(map(len, rows)) / len(rows),
           "seconds_per_forward": round(seconds / args.score_reps, 4),
           "steps_per_s": round(args.score_reps * args.score_batch / seconds, 1),
           "scores_in_unit_interval": all(0.0 <= s <= 1.0 for s in scores)}
    if device.startswith("cuda"):
        out["peak_memory_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    return out


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    device = pick_device(args.device)
    autocast = args.dtype == "bfloat16"
    if autocast and not device.startswith("cuda"):
        print("note: bf16 autocast off the GPU is slow; use --dtype float32 on CPU", file=sys.stderr)
    torch.manual_seed(0)
    config = Qwen3Config(**SHAPES[args.shape])
    pad_id = 0
    model = base_classifier("", pad_id, dtype=torch.float32, config=config)
    if args.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model = add_lora(model, LoraSettings(r=args.lora_r, alpha=2 * args.lora_r, dropout=0.05)).to(device)
    result = {
        "shape": args.shape, "device": device, "dtype": args.dtype,
        "gpu": torch.cuda.get_device_name(0) if device.startswith("cuda") else None,
        "torch": torch.__version__, "gradient_checkpointing": args.gradient_checkpointing,
        "train": train_speed(model, args, device, autocast),
    }
    if autocast:  # the scorer loads its model in bf16 on a GPU (difficulty.dtype=auto)
        model = model.to(torch.bfloat16)
    result["score"] = score_speed(model, args, device, pad_id)
    print(json.dumps(result, indent=2))
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
