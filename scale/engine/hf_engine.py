"""In-process transformers engine that batches whatever requests are pending.

Methods ``await engine.generate(request)`` one problem at a time; a background task
batches the pending requests in a worker thread (the event loop never blocks). Three
schedulers (``engine.scheduler``):

- ``iteration`` (default): one decode step at a time over a shared KV cache; finished
  rows leave after their last token and new requests join before the next step, and
  prompts that start like a recent one reuse its keys/values (``prefix_cache_tokens``)
  (:mod:`scale.engine.hf_decode`).
- ``static``: one left-padded ``generate`` per group of pending requests, budgets within
  a factor ~4 grouped together; the batch runs until its longest row is done.
- ``continuous``: transformers' paged continuous batching (pays on GPU).

CUDA out-of-memory halves the batch and retries. Budget forcing (s1-style) closes an
over-long thought and gives the answer its own budget.
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

import torch

from scale.engine.hf_batching import Row, RowResult, generate_rows
from scale.engine.hf_decode import DecodeBatch
from scale.engine.reasoning import THINK_CLOSE, THINK_OPEN, split_reasoning
from scale.engine.types import Completion, Engine, GenerationRequest, SamplingParams
from scale.errors import ConfigError
from scale.models import load_model, load_tokenizer

log = logging.getLogger(__name__)

SCHEDULERS = ("iteration", "static", "continuous")


@dataclass
class _Job:
    row: Row  # carries the request's sampling
    future: asyncio.Future


def _group_key(row: Row, continuous: bool) -> tuple:
    """Which pending requests may share one ``generate``.

    Per-row sampling lets any sampling settings share a padded batch. A padded batch runs
    until its longest row is done, so budgets within a factor of ~4 go together (a
    64-token score waits for no 4096-token step). Continuous batching keeps one manager
    per sampling setting and frees finished rows itself.
    """
    if continuous:
        s = row.sampling or SamplingParams()
        return (s.greedy, s.temperature, s.top_p, s.top_k)
    return (int(math.log(max(row.max_new_tokens, 1), 4)),)


class HFEngine(Engine):
    """Batched ``transformers`` generation for one loaded model."""

    def __init__(self, model: str, dtype: str = "auto", device: str = "auto",
                 max_batch_size: int = 16, batch_wait_s: float = 0.01,
                 scheduler: str = "iteration", attn_implementation: str | None = None,
                 cb_max_memory_percent: float = 0.3, prefix_cache_tokens: int = 16384,
                 name: str | None = None) -> None:
        if max_batch_size < 1:
            raise ConfigError(f"engine.max_batch_size must be >= 1, got {max_batch_size}")
        if prefix_cache_tokens < 0:
            raise ConfigError(f"engine.prefix_cache_tokens must be >= 0, got {prefix_cache_tokens}")
        if scheduler not in SCHEDULERS:
            raise ConfigError(f"engine.scheduler must be one of {list(SCHEDULERS)}, got {scheduler!r}")
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.name = name or model
        self.model_name = model
        self.tokenizer = load_tokenizer(model)
        kwargs = {"attn_implementation": attn_implementation} if attn_implementation else {}
        self.model = load_model(model, dtype=dtype, device=device, **kwargs)
        self.max_batch_size = max_batch_size
        self.batch_wait_s = batch_wait_s
        self.scheduler = scheduler
        self.prefix_cache_tokens = prefix_cache_tokens
        self.decode_batch: DecodeBatch | None = None  # the iteration scheduler's (for its stats)
        if not 0 < cb_max_memory_percent <= 1:
            raise ConfigError(f"engine.cb_max_memory_percent must be in (0, 1], got {cb_max_memory_percent}")
        self.cb_max_memory_percent = cb_max_memory_percent
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hf-generate")
        self._pending: list[_Job] = []
        self._wakeup: asyncio.Event | None = None
        self._worker: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # Observability: rows in every generate call (static, continuous) or decode step (iteration).
        self.batch_sizes: list[int] = []
        self.busy_seconds = 0.0  # wall time spent inside generate (for overhead figures)
        vocab = self.tokenizer.get_vocab()
        self._think_close_id = vocab.get(THINK_CLOSE)
        self._think_open_id = vocab.get(THINK_OPEN)
        self._cb_managers: dict[tuple, object] = {}  # continuous batching, per sampling setting

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
            res = await self._submit(Row(prompt, request.sampling.max_new_tokens, tuple(request.stop),
                                         request.sampling))
            started_in_thought = self._prompt_in_thought(prompt)
            completion = self._completion(prompt, res.token_ids, res, started_in_thought)
        completion.seconds = time.perf_counter() - start
        return completion

    async def aclose(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None
        if self.scheduler == "continuous":
            from scale.engine.hf_continuous import stop_managers

            stop_managers(self)
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
        budget = request.budget
        assert budget is not None
        prompt = self.render(request, open_thought=True)
        think = await self._submit(Row(prompt, budget.thinking_tokens, (THINK_CLOSE,), request.sampling))
        thought = think.token_ids
        if think.eos:
            # The model ended its turn inside the thought: nothing to force.
            return self._completion(prompt, thought, think, True)
        forced = think.stop_string is None  # budget ran out before the model closed the thought
        if forced:
            thought = thought + self.tokenizer(budget.close_text, add_special_tokens=False)["input_ids"]
        answer = await self._submit(Row(prompt + thought, budget.answer_tokens, tuple(request.stop),
                                        request.sampling))
        res = RowResult(thought + answer.token_ids, "budget" if forced else answer.finish_reason,
                        stop_string=answer.stop_string, eos=answer.eos)
        completion = self._completion(prompt, res.token_ids, res, True)
        completion.forced = forced
        completion.meta["thinking_tokens"] = len(thought)
        return completion

    # -- batching ---------------------------------------------------------------------
    async def _submit(self, row: Row) -> RowResult:
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
                await self._iteration_loop()
            else:
                await self._batch_loop_inner()
        except asyncio.CancelledError:
            raise
        except BaseException as err:  # never leave a caller waiting on a dead batcher
            log.exception("engine batch loop failed")
            for job in self._pending:
                if not job.future.done():
                    job.future.set_exception(err)
            self._pending = []
            raise

    async def _batch_loop_inner(self) -> None:
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
                groups.setdefault(_group_key(job.row, self.scheduler == "continuous"), []).append(job)
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

    async def _iteration_loop(self) -> None:
        """Admit pending requests and run one decode step, over and over (see hf_decode)."""
        assert self._wakeup is not None
        loop = asyncio.get_running_loop()
        batch = self.decode_batch = DecodeBatch(self.model, self.tokenizer, self.prefix_cache_tokens)
        capacity = self.max_batch_size
        while True:
            if not batch.slots and not self._pending:
                self._wakeup.clear()
                await self._wakeup.wait()
                # A short pause lets a burst of callers enqueue together (one prefill).
                await asyncio.sleep(self.batch_wait_s)
            live = [j for j in self._pending if not j.future.cancelled()]
            room = max(capacity - len(batch), 0)
            admit, self._pending = live[:room], live[room:]
            try:
                done = await loop.run_in_executor(self._executor, self._iterate, batch, admit)
            except torch.OutOfMemoryError as err:
                rows = [s.ticket for s in batch.clear()] + admit
                batch.prefixes.clear()
                if capacity == 1 and len(rows) == 1:  # nothing left to split
                    if not rows[0].future.done():
                        rows[0].future.set_exception(err)
                    continue
                capacity = max(1, min(capacity, len(rows)) // 2)
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
                log.warning("out of memory with %d rows; restarting them at most %d at a time", len(rows), capacity)
                self._pending = rows + self._pending  # seeded rows redraw the same tokens
                continue
            except Exception as err:  # surface to every caller in the batch; keep serving others
                for job in [s.ticket for s in batch.clear()] + admit:
                    if not job.future.done():
                        job.future.set_exception(err)
                continue
            for job, res in done:
                if not job.future.done():
                    job.future.set_result(res)
            if done:
                # Let the woken callers (and the tasks they gather) enqueue their next call
                # before the next step, so it joins now rather than one step later.
                for _ in range(3):
                    await asyncio.sleep(0)

    def _iterate(self, batch: DecodeBatch, admit: list[_Job]) -> list[tuple[_Job, RowResult]]:
        start = time.perf_counter()
        try:
            batch.drop(lambda s: not s.ticket.future.cancelled())
            done = batch.admit([j.row for j in admit], admit)
            if batch.slots:
                self.batch_sizes.append(len(batch))
                done += batch.step()
            return done
        finally:
            self.busy_seconds += time.perf_counter() - start

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
            if self.scheduler == "continuous":
                return self._run_continuous(chunk)
            return generate_rows(self.model, self.tokenizer, [j.row for j in chunk])
        except torch.OutOfMemoryError:
            if len(chunk) == 1:
                raise
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            half = len(chunk) // 2
            log.warning("out of memory at batch %d; retrying as %d + %d", len(chunk), half, len(chunk) - half)
            return self._run_chunk_split(chunk[:half]) + self._run_chunk_split(chunk[half:])

    def _run_continuous(self, chunk: list[_Job]) -> list[RowResult]:
        """transformers' continuous batching (paged attention): pays on GPU with many requests."""
        from scale.engine.hf_continuous import run_continuous

        return run_continuous(self, [j.row for j in chunk], chunk[0].row.sampling or SamplingParams())

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
