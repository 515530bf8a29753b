"""Model checks at load: cache layouts, generation_config processors, device maps (tier 2).

    pytest tests/engine/test_hf_layout.py

Tiny random models of other architectures (tests/helpers/tiny_models.py): DeepSeek-V3
(multi-head latent attention: keys and values of different widths, MoE layers), Mistral
with a sliding window, Nemotron-H with MLP-only layers (no cache) between attention layers.
"""

from __future__ import annotations

import asyncio

import pytest

from scale.engine.hf_batching import Row, generate_rows
from scale.engine.hf_decode import DecodeBatch
from scale.engine.hf_engine import HFEngine
from scale.engine.hf_layout import cache_layout, check_placement
from scale.engine.types import GenerationRequest, SamplingParams
from scale.errors import ConfigError
from tests.helpers.exact import tie_free_length
from tests.helpers.tiny_models import build_tiny_model, copy_with_generation_config

pytestmark = pytest.mark.tiny


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory, tiny_model_dir):
    return tmp_path_factory.mktemp("tiny-models")


def _decode_all(batch: DecodeBatch, rows: list[Row]) -> list[list[int]]:
    out = dict(batch.admit(rows, list(range(len(rows)))))
    while len(batch):
        out.update(batch.step())
    return [out[i].token_ids for i in range(len(rows))]


@pytest.mark.parametrize("model_type", ["deepseek_v3", "nemotron_h"])
def test_iteration_runs_full_attention_models_exactly(models_dir, model_type):
    """MLA (different key/value widths) and MLP-only layers: the iteration scheduler equals generate,
    token for token up to the first near-tie (tests/helpers/exact.py): the two batch make-ups may
    round differently in float32, and MoE matmuls have no float64 kernel on CPU."""
    engine = HFEngine(str(build_tiny_model(model_type, models_dir)), scheduler="iteration")
    tok = engine.tokenizer
    prompts = [tok(t, add_special_tokens=False)["input_ids"] for t in ["Short.", "A longer prompt " * 6, "Mid size one."]]
    rows = [Row(p, n) for p, n in zip(prompts, [6, 9, 4])]
    # Joining a running batch (merge) and leaving it (eviction) go through every cache copy.
    batch = engine.decode_batch
    first = dict(batch.admit(rows[:1], [0]))
    first.update(batch.step())
    rest = dict(batch.admit(rows[1:], [1, 2]))
    got = {**first, **rest}
    while len(batch):
        got.update(batch.step())
    expected = generate_rows(engine.model, tok, rows)
    for i, (row, e) in enumerate(zip(rows, expected)):
        n = tie_free_length(engine.model, row.prompt_ids, e.token_ids)
        assert n >= 3 and got[i].token_ids[:n] == e.token_ids[:n], (i, n)
        assert n < len(e.token_ids) or got[i].token_ids == e.token_ids
    layout = engine.decode_batch.layout
    assert layout.model_type == model_type and layout.bytes_per_token > 0
    if model_type == "nemotron_h":
        assert layout.kv_layers == (0, 2)  # the MLP layers keep no cache


def test_sliding_window_is_refused_at_load_naming_the_model_and_scheduler(models_dir):
    path = str(build_tiny_model("mistral", models_dir))
    with pytest.raises(ConfigError, match=r"scheduler=iteration.*'mistral'.*DynamicSlidingWindowLayer.*static"):
        HFEngine(path, scheduler="iteration")
    # auto falls back to the padded generate path on CPU, and it runs.
    engine = HFEngine(path, scheduler="auto")
    assert engine.scheduler == "static"
    req = GenerationRequest(({"role": "user", "content": "Hi"},), SamplingParams(max_new_tokens=5))
    assert asyncio.run(engine.generate(req)).response_tokens == 5


def test_generation_config_processors_are_refused_or_overridden(tiny_model_dir, tmp_path):
    path = str(copy_with_generation_config(tiny_model_dir, tmp_path, repetition_penalty=1.3, no_repeat_ngram_size=3))
    for scheduler in ("iteration", "static"):
        with pytest.raises(ConfigError, match=r"no_repeat_ngram_size=3, repetition_penalty=1.3.*generation_overrides"):
            HFEngine(path, scheduler=scheduler)
    engine = HFEngine(path, scheduler="iteration",
                      generation_overrides={"repetition_penalty": 1.0, "no_repeat_ngram_size": 0})
    assert engine.model.generation_config.repetition_penalty == 1.0
    with pytest.raises(ConfigError, match="'bogus' is not a generation_config field"):
        HFEngine(path, generation_overrides={"bogus": 1})


@pytest.mark.parametrize("scheduler", ["iteration", "static", "continuous"])
def test_top_k_zero_samples_the_whole_vocabulary_whatever_generation_config_says(tiny_model_dir, tmp_path,
                                                                                  scheduler, monkeypatch):
    """``top_k: 0`` (the QwQ/R1 System 2 files) is off on engine=hf even on a model whose
    generation_config sets ``top_k=1`` (which would make every draw greedy): the row the engine
    samples with carries the whole vocabulary, and its tokens equal those drawn on the same
    weights without that generation_config, and differ from greedy. Each request runs alone on
    both engines (one batch make-up), so float32 tokens are comparable."""
    from scale.engine import hf_continuous, hf_sampling

    path = str(copy_with_generation_config(tiny_model_dir, tmp_path, top_k=1, do_sample=True))
    top_ks: list[float] = []  # the top-k column of every row the sampler drew for
    real = hf_sampling.sample_tokens

    def spy(logits, table, *args, **kwargs):
        top_ks.extend(table[:, 1].tolist())
        return real(logits, table, *args, **kwargs)

    for module in (hf_sampling, hf_continuous):  # the continuous manager's draw calls it too
        monkeypatch.setattr(module, "sample_tokens", spy)
    sampled = SamplingParams(max_new_tokens=8, temperature=1.0, top_k=0, seed=11)

    def tokens(model: str, params: SamplingParams) -> str:
        engine = HFEngine(model, scheduler=scheduler, cb_cache_tokens=8192)
        try:
            req = GenerationRequest(({"role": "user", "content": "Pick a word."},), params, {"enable_thinking": False})
            return asyncio.run(engine.generate(req)).text
        finally:
            asyncio.run(engine.aclose())

    got = tokens(path, sampled)
    vocab = len(HFEngine(path, scheduler="static").tokenizer)
    assert len(top_ks) >= 8 and min(top_ks) >= vocab, top_ks
    assert got == tokens("tiny-qwen3", sampled)
    assert got != tokens(path, SamplingParams(max_new_tokens=8))


def test_device_map_auto_runs_or_is_refused_by_name(tiny_model_dir):
    """engine.device_map=auto (Accelerate): on one device the iteration scheduler runs it."""
    engine = HFEngine("tiny-qwen3", device_map="auto", scheduler="iteration")
    plain = HFEngine("tiny-qwen3", scheduler="iteration")
    req = GenerationRequest(({"role": "user", "content": "Spread me."},), SamplingParams(max_new_tokens=7))
    a, b = asyncio.run(engine.generate(req)), asyncio.run(plain.generate(req))
    assert (a.text, a.response_tokens) == (b.text, b.response_tokens)
    # A model that Accelerate spread over two devices is refused by the schedulers that keep one cache.
    engine.model.hf_device_map = {"model.embed_tokens": 0, "model.layers.0": 0, "model.layers.1": 1, "lm_head": 1}
    for scheduler in ("iteration", "continuous"):
        with pytest.raises(ConfigError, match=rf"scheduler={scheduler}.*\['0', '1'\].*scheduler=static"):
            check_placement(engine.model, scheduler)


def test_layout_counts_cache_bytes_per_token(tiny_model_dir):
    engine = HFEngine("tiny-qwen3", scheduler="static")
    cfg = engine.model.config
    layout = cache_layout(engine.model)
    assert layout.bytes_per_token == cfg.num_hidden_layers * 2 * cfg.num_key_value_heads * cfg.head_dim * 4
