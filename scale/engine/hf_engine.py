"""In-process transformers engine that batches whatever requests are pending.

Methods ``await engine.generate(request)`` one problem at a time; the engine batches the
pending requests off the event loop. Schedulers (``engine.scheduler``):

- ``auto`` (default): ``continuous`` on CUDA, ``iteration`` on CPU (``static`` when the
  model's cache layout is one the iteration scheduler cannot keep).
- ``iteration``: one decode step at a time over a shared KV cache; finished rows leave
  after their last token and new requests join before the next step, and prompts that
  start like a recent one reuse its keys/values (``prefix_cache_tokens``)
  (:mod:`scale.engine.hf_decode`). Rows are admitted by KV memory; out-of-memory
  pre-empts the newest rows and the budget grows back after a quiet period
  (:mod:`scale.engine.hf_memory`).
- ``static``: one left-padded ``generate`` per group of pending requests, budgets within
  a factor ~4 grouped together; the batch runs until its longest row is done.
- ``continuous``: one persistent transformers continuous-batching manager (paged
  attention) fed as requests arrive (:mod:`scale.engine.hf_continuous`).

Every scheduler ends a row at its own end-of-turn token, stop string or budget
(:func:`scale.engine.hf_batching.check_finished`) and samples with
:mod:`scale.engine.hf_sampling`, so a seeded request draws the same tokens under all of
them. Every call is capped by the request's context window, and budget forcing
(s1-style) closes an over-long thought and gives the answer its own budget.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Annotated

import torch

from scale.checks import NonNegative, OneOf, Positive, Range, check_args
from scale.engine.hf_batching import Row, RowResult, generate_rows
from scale.engine.hf_decode import DecodeBatch
from scale.engine.hf_iteration import empty_cache, iteration_loop, release, too_big
from scale.engine.hf_layout import (
    CacheLayout,
    cache_layout,
    check_generation_config,
    check_placement,
    model_devices,
)
from scale.engine.hf_memory import KVBudget, default_cap
from scale.engine.hf_sampling import derive_seed
from scale.engine.reasoning import THINK_CLOSE, THINK_OPEN, split_reasoning
from scale.engine.types import Completion, Engine, GenerationRequest, context_overflow
from scale.errors import ConfigError
from scale.models import load_model, load_tokenizer

log = logging.getLogger(__name__)

SCHEDULERS = ("auto", "iteration", "static", "continuous")
Share = Annotated[float, Range(gt=0, le=1)]  # of the GPU memory


@dataclass
class _Job:
    row: Row  # carries the request's sampling
    future: asyncio.Future


def _group_key(row: Row) -> tuple:
    """Which pending requests share one padded ``generate`` (scheduler=static).

    Per-row sampling lets any sampling settings share a padded batch. A padded batch runs
    until its longest row is done, so budgets within a factor of ~4 go together (a
    64-token score waits for no 4096-token step).
    """
    return (int(math.log(max(row.max_new_tokens, 1), 4)),)


class HFEngine(Engine):
    """Batched ``transformers`` generation for one loaded model."""

    @check_args("engine")
    def __init__(self, model: str, dtype: str = "auto", device: str = "auto",
                 max_batch_size: Positive = 16, batch_wait_s: float = 0.01,
                 scheduler: Annotated[str, OneOf(SCHEDULERS)] = "auto", attn_implementation: str | None = None,
                 cb_max_memory_percent: Share = 0.3, prefix_cache_tokens: NonNegative = 16384,
                 device_map: str | dict | None = None, kv_memory_fraction: Share = 0.85,
                 oom_quiet_steps: Positive = 200, generation_overrides: dict | None = None,
                 cb_cache_tokens: Positive | None = None, adapter: str | None = None,
                 name: str | None = None, cb_max_batch_tokens: Positive = 2048) -> None:
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.name = name or model
        self.model_name = model
        self.tokenizer = load_tokenizer(model)
        kwargs = {"attn_implementation": attn_implementation} if attn_implementation else {}
        try:  # adapter: LoRA merged in; device_map: spread by Accelerate
            self.model = load_model(model, dtype=dtype, device=device, adapter=adapter, device_map=device_map, **kwargs)
        except ImportError as err:
            if device_map is None:
                raise
            raise ConfigError(f"engine.device_map={device_map!r}: {str(err).splitlines()[0][:200]}") from err
        self.scheduler, layout = _pick_scheduler(scheduler, self.model)
        check_generation_config(self.model, self.scheduler, generation_overrides)
        if self.scheduler in ("iteration", "continuous"):
            check_placement(self.model, self.scheduler)
        self.max_batch_size = max_batch_size
        self.batch_wait_s = batch_wait_s
        self.decode_batch: DecodeBatch | None = None  # the iteration scheduler's (for its stats)
        self.kv_budget: KVBudget | None = None
        if self.scheduler == "iteration":
            layout = layout or cache_layout(self.model, self.scheduler)  # at load: a clear error now, not mid-run
            self.decode_batch = DecodeBatch(self.model, self.tokenizer, prefix_cache_tokens, layout=layout)
            device = self.model.device  # the cap is measured at the first admission (other engines loaded by then)
            self.kv_budget = KVBudget(layout.bytes_per_token, lambda: default_cap(device, kv_memory_fraction),
                                      oom_quiet_steps)
        self.continuous = None
        if self.scheduler == "continuous":
            from scale.engine.hf_continuous import ContinuousScheduler

            self.continuous = ContinuousScheduler(self.model, self.tokenizer, cb_max_memory_percent, cb_cache_tokens,
                                                  cb_max_batch_tokens)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hf-generate")
        self._pending: list[_Job] = []
        self._wakeup: asyncio.Event | None = None
        self._worker: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # Observability: rows in every generate call (static) or decode step (iteration).
        self.batch_sizes: list[int] = []
        self.busy_seconds = 0.0  # wall time spent generating (for overhead figures)
        vocab = self.tokenizer.get_vocab()
        self._think_close_id = vocab.get(THINK_CLOSE)
        self._think_open_id = vocab.get(THINK_OPEN)

    # -- prompt rendering -------------------------------------------------------------
    def render(self, request: GenerationRequest, open_thought: bool = False) -> list[int]:
        """Token ids of the chat prompt (template kwargs applied), optionally opening a thought."""
        text = self.tokenizer.apply_chat_template(
            list(request.messages), add_generation_prompt=True, tokenize=False,
            **request.template_kwargs,
        )
        if open_thought and not text.rstrip().endswith(THINK_OPEN):
            text += THINK_OPEN + "\n"
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    # -- public API -------------------------------------------------------------------
    async def generate(self, request: GenerationRequest) -> Completion:
        start = time.perf_counter()
        if request.budget is not None:
            completion = await self._generate_forced(request)
        else:
            prompt = self.render(request)
            cap = min(request.sampling.max_new_tokens, request.room(len(prompt)))
            if cap < 1:
                completion = context_overflow(request, len(prompt))
            else:
                res = await self._submit(Row(prompt, cap, tuple(request.stop), request.sampling))
                completion = self._completion(prompt, res.token_ids, res, self._prompt_in_thought(prompt))
                completion.meta["max_new_tokens"] = cap
        completion.seconds = time.perf_counter() - start
        return completion

    def batch_capacity(self) -> int | None:
        """On a GPU, the rows decoded together (engine.max_batch_size; raise it to what the GPU
        holds); on CPU None, so runner.max_concurrency=auto keeps today's 16."""
        return self.max_batch_size if self.model.device.type == "cuda" else None

    async def aclose(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None
        if self.continuous is not None:
            await asyncio.to_thread(self.continuous.close)
        self._executor.shutdown(wait=True)

    def clear_prefix_cache(self) -> None:
        """Forget stored prompt prefixes (e.g. between timed runs of a benchmark)."""
        if self.decode_batch is not None:
            self.decode_batch.prefixes.clear()

    def prefill_stats(self) -> dict[str, float]:
        """Prompt tokens admitted / run through the model / reused (iteration scheduler)."""
        if self.decode_batch is None:
            return {}
        return dataclasses.asdict(self.decode_batch.stats)

    # -- budget forcing ---------------------------------------------------------------
    async def _generate_forced(self, request: GenerationRequest) -> Completion:
        """Thought up to ``thinking_tokens`` (or ``</think>``), closed if still open, then the answer.

        Thought and answer both fit the context window: the thought leaves room for the
        closing text and the answer budget, the answer takes what is left. The answer
        draws with its own seed (derived from the request's), not the thought's.
        """
        budget = request.budget
        assert budget is not None
        prompt = self.render(request, open_thought=True)
        close_ids = self.tokenizer(budget.close_text, add_special_tokens=False)["input_ids"]
        room = request.room(len(prompt))
        if room < 1:
            return context_overflow(request, len(prompt))
        think_cap = min(budget.thinking_tokens, max(1, room - len(close_ids) - budget.answer_tokens))
        think = await self._submit(Row(prompt, think_cap, (THINK_CLOSE,), request.sampling))
        thought = think.token_ids
        if think.eos:
            # The model ended its turn inside the thought: nothing to force.
            completion = self._completion(prompt, thought, think, True)
            completion.meta.update(thinking_tokens=len(thought), thinking_cap=think_cap)
            return completion
        forced = think.stop_string is None  # budget ran out before the model closed the thought
        closed = thought + close_ids if forced else thought
        answer_cap = min(budget.answer_tokens, room - len(closed))
        if answer_cap < 1:  # the window ends with the thought: no room to close it and answer
            completion = self._completion(prompt, thought, RowResult(thought, "length"), True)
            completion.meta.update(thinking_tokens=len(thought), thinking_cap=think_cap, answer_cap=0)
            return completion
        thought = closed
        sampling = request.sampling
        if sampling.seed is not None:
            sampling = dataclasses.replace(sampling, seed=derive_seed(sampling.seed, 1))
        answer = await self._submit(Row(prompt + thought, answer_cap, tuple(request.stop), sampling))
        res = RowResult(thought + answer.token_ids, "budget" if forced else answer.finish_reason,
                        stop_string=answer.stop_string, eos=answer.eos)
        completion = self._completion(prompt, res.token_ids, res, True)
        completion.forced = forced
        completion.meta.update(thinking_tokens=len(thought), thinking_cap=think_cap, answer_cap=answer_cap)
        return completion

    # -- batching ---------------------------------------------------------------------
    async def _submit(self, row: Row) -> RowResult:
        if self.continuous is not None:  # fed to the manager as it arrives
            return await self.continuous.submit(row)
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # first call, or a new event loop (tests, scripts)
            self._loop, self._wakeup, self._worker = loop, asyncio.Event(), None
        if self._worker is None or self._worker.done():
            self._worker = loop.create_task(self._batch_loop())
        future = loop.create_future()
        self._pending.append(_Job(row, future))
        assert self._wakeup is not None
        self._wakeup.set()
        return await future

    async def _batch_loop(self) -> None:
        try:
            if self.scheduler == "iteration":
                await iteration_loop(self)
            else:
                await self._static_loop()
        except asyncio.CancelledError:
            raise
        except BaseException as err:  # never leave a caller waiting on a dead batcher
            log.exception("engine batch loop failed")
            jobs = self._pending + ([s.ticket for s in self.decode_batch.clear()] if self.decode_batch else [])
            for job in jobs:
                if not job.future.done():
                    job.future.set_exception(err)
            self._pending = []
            raise

    async def _static_loop(self) -> None:
        assert self._wakeup is not None
        loop = asyncio.get_running_loop()
        while True:
            await self._wakeup.wait()
            # A short pause lets callers woken by the last batch enqueue their next step.
            await asyncio.sleep(self.batch_wait_s)
            self._wakeup.clear()
            jobs, self._pending = self._pending, []
            groups: dict[tuple, list[_Job]] = {}
            for job in jobs:
                groups.setdefault(_group_key(job.row), []).append(job)
            # Short budgets first: their callers move on to their next step sooner.
            for _, group in sorted(groups.items(), key=lambda kv: kv[0]):
                # Similar prompt lengths together waste less padding.
                group.sort(key=lambda j: len(j.row.prompt_ids))
                for i in range(0, len(group), self.max_batch_size):
                    chunk = [j for j in group[i:i + self.max_batch_size] if not j.future.cancelled()]
                    if not chunk:
                        continue
                    try:
                        results = await loop.run_in_executor(self._executor, self._run_chunk, chunk)
                    except Exception as err:  # surface to every caller of this batch
                        for job in chunk:
                            if not job.future.done():
                                job.future.set_exception(err)
                        continue
                    for job, res in zip(chunk, results):
                        if not job.future.done():
                            job.future.set_result(res)

    def _run_chunk(self, chunk: list[_Job]) -> list[RowResult]:
        start = time.perf_counter()
        try:
            return self._run_chunk_split(chunk)
        finally:
            self.busy_seconds += time.perf_counter() - start

    def _run_chunk_split(self, chunk: list[_Job]) -> list[RowResult]:
        """Generate for ``chunk``; on CUDA OOM split it in halves and retry each."""
        try:
            self.batch_sizes.append(len(chunk))
            return generate_rows(self.model, self.tokenizer, [j.row for j in chunk])
        except torch.OutOfMemoryError as err:
            if len(chunk) == 1:
                raise too_big(self, chunk[0].row, err) from err
            release(err)
        # The retry runs here, past the except block: inside it the error's traceback would
        # keep the failed step's tensors alive and the halves would run out of memory again.
        empty_cache(self.model)
        half = len(chunk) // 2
        log.warning("out of memory at batch %d; retrying as %d + %d", len(chunk), half, len(chunk) - half)
        return self._run_chunk_split(chunk[:half]) + self._run_chunk_split(chunk[half:])

    # -- results ----------------------------------------------------------------------
    def _prompt_in_thought(self, prompt: list[int]) -> bool:
        if self._think_open_id is None:
            return False
        tail = prompt[-4:]
        return self._think_open_id in tail and (self._think_close_id not in tail)

    def _completion(self, prompt: list[int], tokens: list[int], res: RowResult,
                    started_in_thought: bool) -> Completion:
        raw = self.tokenizer.decode(tokens, skip_special_tokens=True)
        if res.stop_string and res.stop_string != THINK_CLOSE:
            raw = raw[: raw.find(res.stop_string)] if res.stop_string in raw else raw
        reasoning, visible = split_reasoning(raw, started_in_thought=started_in_thought)
        return Completion(
            text=visible,
            reasoning=reasoning,
            prompt_tokens=len(prompt),
            response_tokens=len(tokens),
            reasoning_tokens=self._count_reasoning(tokens, started_in_thought),
            finish_reason=res.finish_reason,
        )

    def _count_reasoning(self, tokens: list[int], started_in_thought: bool) -> int:
        """Tokens of the thought, tags included (by token id; 0 for models without think tokens)."""
        if self._think_close_id is None:
            return 0
        start = 0
        if not started_in_thought:
            if self._think_open_id not in tokens:
                return 0
            start = tokens.index(self._think_open_id)
        if self._think_close_id in tokens[start:]:
            return tokens.index(self._think_close_id, start) + 1 - start
        return len(tokens) - start


# -- helpers ------------------------------------------------------------------------------
def _pick_scheduler(scheduler: str, model) -> tuple[str, CacheLayout | None]:
    """``auto``: continuous batching on CUDA, the iteration scheduler on CPU (static if it cannot).

    The cache layout, when probing it decided the choice (so it is not probed twice).
    """
    if scheduler != "auto":
        return scheduler, None
    if len(model_devices(model)) > 1:
        return "static", None
    if model.device.type == "cuda":
        return "continuous", None
    try:
        layout = cache_layout(model)
    except ConfigError as err:
        log.info("scheduler=auto picks static: %s", err)
        return "static", None
    return "iteration", layout
