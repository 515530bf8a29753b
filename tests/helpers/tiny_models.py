"""Tiny random models of other architectures, saved as safetensors folders (tier 2 tests).

Each uses the tiny-qwen3 tokenizer (SmolLM2's + think tags + Qwen3's chat template), so the
engines load them like any local model folder::

    path = build_tiny_model("deepseek_v3", tmp_path)   # MLA: keys and values of different widths
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

SHAPES: dict[str, dict] = {
    # Multi-head latent attention with MoE layers: keys (nope + rope) and values differ in width.
    "deepseek_v3": dict(hidden_size=64, intermediate_size=128, moe_intermediate_size=32, num_hidden_layers=2,
                        num_attention_heads=4, num_key_value_heads=4, n_routed_experts=4, num_experts_per_tok=2,
                        n_group=1, topk_group=1, first_k_dense_replace=1, kv_lora_rank=16, q_lora_rank=None,
                        qk_nope_head_dim=16, qk_rope_head_dim=8, v_head_dim=12, n_shared_experts=1),
    # Sliding-window attention on every layer.
    "mistral": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                    num_key_value_heads=2, head_dim=16, sliding_window=8),
    # Full attention interleaved with MLP-only layers (which keep no cache).
    "nemotron_h": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=4, num_attention_heads=4,
                       num_key_value_heads=2, head_dim=16, hybrid_override_pattern="*-*-"),
}


def build_tiny_model(model_type: str, out: Path, seed: int = 0) -> Path:
    """Save a random ``model_type`` model with the tiny-qwen3 tokenizer under ``out/model_type``."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from scale.models import resolve_model

    path = Path(out) / model_type
    if (path / "config.json").is_file():
        return path
    tok = AutoTokenizer.from_pretrained(resolve_model("tiny-qwen3"))
    config = AutoConfig.for_model(model_type, **SHAPES[model_type], vocab_size=len(tok), max_position_embeddings=4096,
                                  bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                                  pad_token_id=tok.pad_token_id)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config)
    model.save_pretrained(path, safe_serialization=True)
    tok.save_pretrained(path)
    return path


def copy_with_generation_config(source: Path, out: Path, **settings) -> Path:
    """A copy of the model folder ``source`` whose generation_config.json also sets ``settings``."""
    import shutil

    dest = Path(out) / (Path(source).name + "-gencfg")
    if not dest.exists():
        shutil.copytree(source, dest)
    gen_path = dest / "generation_config.json"
    data = json.loads(gen_path.read_text())
    data.update(settings)
    gen_path.write_text(json.dumps(data, indent=2))
    return dest
