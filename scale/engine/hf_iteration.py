"""The iteration scheduler's driver: admit by KV memory, step, recover from out-of-memory.

``iteration_loop`` runs on the event loop for an :class:`~scale.engine.hf_engine.HFEngine`
(its pending jobs, wake-up event and worker thread); each round, ``iterate`` runs in the
worker thread: drop cancelled rows, admit the rows that fit
(:class:`~scale.engine.hf_memory.KVBudget`), pre-empt the newest rows if the batch outgrew
the budget, and take one decode step (:class:`~scale.engine.hf_decode.DecodeBatch`).

On CUDA out-of-memory (handled past the ``except`` block, once the failed step's tensors
are released) the budget shrinks and the newest rows are pre-empted; they and any
rows a failed cache copy dropped restart later (seeded rows redraw the same tokens). A
single row that does not fit fails with its size named. Rows that finished are returned
whatever fails after them.
"""

from __future__ import annotations

import asyncio
import logging
import time
import traceback
from typing import Any

import torch

from scale.engine.hf_batching import Row, RowResult
from scale.engine.hf_decode import DecodeBatch
from scale.engine.hf_memory import KVBudget
from scale.errors import EngineError

log = logging.getLogger(__name__)


async def iteration_loop(self) -> None:  # self: the HFEngine
    """Step the decode batch; admit pending rows between steps while their KV cache fits."""
    assert self._wakeup is not None and self.decode_batch is not None and self.kv_budget is not None
    loop = asyncio.get_running_loop()
    batch, budget = self.decode_batch, self.kv_budget
    while True:
        if not len(batch) and not self._pending:
            await self._wakeup.wait()
        self._wakeup.clear()
        if not len(batch):  # a new batch: let the rest of the callers enqueue together (one prefill)
            await asyncio.sleep(self.batch_wait_s)
        live = [j for j in self._pending if not j.future.cancelled()]
        n = budget.admit_count(len(batch), batch.width, batch.prefix_bytes(),
                               [len(j.row.prompt_ids) for j in live], self.max_batch_size)
        admit, self._pending = live[:n], live[n:]
        done, requeue, failed = await loop.run_in_executor(self._executor, iterate, self, batch, admit)
        for job, res in done:
            if not job.future.done():
                job.future.set_result(res)
        for job, err in failed:
            if not job.future.done():
                job.future.set_exception(err)
        if requeue:  # pre-empted or lost rows restart first; seeded rows redraw the same tokens
            self._pending = [j for j in requeue if not j.future.done()] + self._pending
        if done:
            # Let the woken callers (and the tasks they gather) enqueue their next call
            # before the next step, so it joins now rather than one step later.
            for _ in range(3):
                await asyncio.sleep(0)

def iterate(self, batch: DecodeBatch, admit: list) -> tuple[list, list, list]:  # self: the HFEngine
    """One round in the worker thread: admit, step; on out-of-memory, pre-empt and shrink.

    Returns (finished (job, result), jobs to restart, failed (job, error)). Rows that
    finished are returned whatever fails after them.
    """
    start = time.perf_counter()
    done: list[tuple[Any, RowResult]] = []  # (job, result)
    requeue: list[Any] = []
    failed: list[tuple[Any, BaseException]] = []
    budget = self.kv_budget
    assert budget is not None
    merged = False
    rows_before, width_before = len(batch), batch.width
    oom: str | None = None
    try:
        batch.drop(lambda s: not s.ticket.future.cancelled())
        done += batch.admit([j.row for j in admit], admit)
        merged = True
        if budget.over(len(batch), batch.width, batch.prefix_bytes()):
            preempt(batch, budget, requeue)
        if len(batch):
            self.batch_sizes.append(len(batch))
            done += batch.step()
            budget.tick()
    except torch.OutOfMemoryError as err:
        oom = release(err)
    except Exception as err:  # surface to every caller in the batch; keep serving others
        for job in [*(s.ticket for s in batch.clear() if not s.done), *batch.take_lost(),
                    *([] if merged else admit)]:
            failed.append((job, err))
    # Recovery runs past the except block: inside it the error's traceback would keep the
    # failed step's tensors alive, and emptying the cache or pre-empting would free nothing.
    try:
        if oom is not None:
            _recover(self, batch, budget, admit, merged, rows_before, width_before, oom, requeue, failed)
    finally:
        self.busy_seconds += time.perf_counter() - start
    return done, requeue, failed


def _recover(self, batch: DecodeBatch, budget: KVBudget, admit: list, merged: bool, rows_before: int,
             width_before: int, oom: str, requeue: list, failed: list) -> None:  # self: the HFEngine
    """After out-of-memory: shrink the budget, free the cache, pre-empt the newest rows (or fail a lone one)."""
    lost = batch.take_lost()
    newcomers = [] if merged else admit
    prefill = sum(len(j.row.prompt_ids) for j in newcomers)
    rows = max(rows_before, len(batch) + len(lost)) + len(newcomers)
    width = max([width_before, batch.width, *(len(j.row.prompt_ids) for j in newcomers)])
    budget.on_oom(rows, width, prefill)
    batch.prefixes.clear()
    empty_cache(self.model)
    log.warning("out of memory at %d rows x %d tokens (+%d prompt tokens joining); KV budget now "
                "%.2f GiB", rows, width, prefill, budget.budget / 2**30)
    if not lost and not newcomers and len(batch) == 1:  # nothing left to shed
        (slot,) = batch.live
        failed.append((slot.ticket, too_big(self, slot.row, oom)))
        batch.clear()
    elif not lost and len(batch) == 0 and len(newcomers) == 1:
        failed.append((newcomers[0], too_big(self, newcomers[0].row, oom)))
    else:
        requeue += lost + newcomers
        if merged and len(batch) > 1 and not lost:  # the step failed: shed the newest rows
            oom_again = False
            try:
                preempt(batch, budget, requeue, at_least=1)
            except torch.OutOfMemoryError as err:
                release(err)
                oom_again = True
            if oom_again:
                requeue += batch.take_lost()


def preempt(batch: DecodeBatch, budget: KVBudget, requeue: list, at_least: int = 0) -> None:
    """Take out the newest rows until the rest fit the budget (at least ``at_least``, one always stays)."""
    count = at_least
    while len(batch) - count > 1 and budget.over(len(batch) - count, batch.width, batch.prefix_bytes()):
        count += 1
    count = min(count, len(batch) - 1)
    if count > 0:
        requeue += batch.preempt(count)
        log.info("pre-empted %d row(s); %d keep decoding", count, len(batch))


def release(err: BaseException) -> str:
    """Drop the locals of the frames ``err`` passed through (the failed step's tensors); its first line."""
    traceback.clear_frames(err.__traceback__)
    lines = str(err).splitlines()
    return lines[0] if lines else type(err).__name__


def too_big(engine, row: Row, err: BaseException | str) -> EngineError:
    first = err if isinstance(err, str) else release(err)
    return EngineError(
        f"engine {engine.name!r}: out of memory with a single row ({len(row.prompt_ids)} prompt tokens, budget "
        f"{row.max_new_tokens}) on {engine.model.device}; lower the budget or the context length "
        f"({first[:120]})"
    )


def empty_cache(model) -> None:
    if model.device.type == "cuda":
        torch.cuda.empty_cache()
