"""``engine.scheduler=continuous``: transformers' continuous batching, one manager per model.

One persistent ``ContinuousBatchingManager`` (paged attention; CUDA graphs where
transformers enables them) serves every request of the engine, each fed as it arrives
with its own budget and end-of-turn ids. What transformers offers per request is used
as is; what it does not, this module adds through its per-request logits-processor hook:

- sampling: temperature, top-k, top-p and the seed travel with the request; a logits
  processor draws each row's token with :func:`scale.engine.hf_sampling.sample_tokens`
  (the same draw as the other schedulers: counter-based, keyed by seed and position)
  and hands the manager a one-hot row, which its greedy step picks. The uniform number
  is computed on the host from the request's state, so nothing syncs inside the step.
- stop strings: a stop string that is one added token (``</think>``) joins the request's
  end-of-turn ids and ends it in the manager; any other is watched on the streamed
  tokens and the request is cancelled the step it appears.

A reader thread routes the manager's outputs to the callers' event loops; a caller that
is cancelled cancels its request. If the manager's loop dies (a CUDA out-of-memory error,
say), the requests it held fail with an :class:`EngineError` and the next request builds
a new manager, once; after a second death, or if the reader fails, every waiting and later
request fails with an :class:`EngineError`, as does one submitted after ``close()``. A
request longer than the whole paged cache (prompt + budget) fails alone, before it reaches
the manager (whose loop it would otherwise end). The manager is told what transformers
would otherwise guess: the tokens per step (``max_batch_tokens``), no switch to flash
attention (only ``engine.attn_implementation`` picks it), no CUDA graphs (the sampler
here was never checked under capture), and its start does not reseed the caller's
global RNG. An interpreter exit without ``close()`` stops the manager first, so it does
not hang on the manager's (non-daemon) thread. Differences from the other schedulers: a
top-p nucleus wider than the 1024 most likely tokens is cut to them, and ``top_k`` above
1024 is refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import logging
import threading
import time
import weakref
from dataclasses import dataclass, field
from typing import Any

import torch
from transformers import GenerationConfig, LogitsProcessorList
from transformers.generation.configuration_utils import ContinuousBatchingConfig
from transformers.generation.continuous_batching.cb_logits_processors import (
    ContinuousBatchingLogitsProcessor,
    ContinuousBatchingLogitsProcessorList,
)

from scale.engine.hf_batching import Row, RowResult, eos_ids, first_finish
from scale.engine.hf_sampling import CANDIDATES, sample_tokens, uniform
from scale.errors import EngineError

log = logging.getLogger(__name__)

_TOP_K_OFF = 1 << 30
REBUILDS = 1  # a manager whose loop died is replaced this many times, then the scheduler stays down


def page_size(cb: ContinuousBatchingConfig) -> int:
    """Tokens per cache page: ``page_size`` in newer transformers (``block_size`` an alias), ``block_size`` before."""
    return int(getattr(cb, "page_size", None) or cb.block_size)


def cb_config(max_memory_percent: float, cache_tokens: int | None, max_batch_tokens: int) -> ContinuousBatchingConfig:
    """The manager's settings, each one set here rather than guessed by transformers (feature-checked)."""
    cb = ContinuousBatchingConfig(max_memory_percent=max_memory_percent, max_batch_tokens=max_batch_tokens,
                                  use_cuda_graph=False)
    if "auto_switch_to_flash" in {f.name for f in dataclasses.fields(cb)}:
        cb.auto_switch_to_flash = False  # flash only when engine.attn_implementation asks for it
    if cache_tokens is not None:  # sized explicitly: the memory share does not veto it
        cb.num_blocks = max(1, -(-cache_tokens // page_size(cb)))
        cb.max_memory_percent = max(max_memory_percent, 0.9)
    return cb


@contextlib.contextmanager
def _no_flash_switch(model):
    """Hide flash support while the manager is built: transformers <= 5.1x switches to flash unasked."""
    had = "_supports_flash_attn" in vars(model)
    saved = vars(model).get("_supports_flash_attn")
    model._supports_flash_attn = False
    try:
        yield
    finally:
        if had:
            model._supports_flash_attn = saved
        else:
            del model._supports_flash_attn


def _keep_rng(helper) -> None:
    """The manager's start seeds torch's global RNG (at random without a seed): restore it after."""
    original = getattr(helper, "set_tp_seed", None)
    if original is None:
        return

    def set_tp_seed(*args, **kwargs):
        cpu = torch.get_rng_state()
        cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else None
        try:
            return original(*args, **kwargs)
        finally:
            torch.set_rng_state(cpu)
            if cuda is not None:
                torch.cuda.set_rng_state_all(cuda)

    helper.set_tp_seed = set_tp_seed


def _close_at_exit(ref: weakref.ref) -> None:
    sched = ref()
    if sched is not None:
        sched.close()


class _Carry(ContinuousBatchingLogitsProcessor):
    """Carries one per-request setting into the step (a row of the manager's argument tensor)."""

    ignored_kwargs: tuple[str, ...] = ()

    def __init__(self, key: str, kind: type, default: float | int, holder: dict) -> None:
        self.key, self.kind, self.default, self.holder = key, kind, default, holder
        self.supported_kwargs = {key: kind}

    def _tensor(self, values: list) -> torch.Tensor:
        if self.kind is float:
            return torch.tensor(values, dtype=torch.float32).view(torch.int32)
        return torch.tensor(values, dtype=torch.int32)

    def fill_defaults(self, int32_tensor: torch.Tensor) -> None:
        int32_tensor.copy_(self._tensor([self.default]).expand_as(int32_tensor))

    def prepare_tensor_args(self, requests_with_new_token) -> torch.Tensor:
        return self._tensor([r.state.logit_processor_kwargs.get(self.key, self.default)
                             for r in requests_with_new_token])

    def __call__(self, scores: torch.Tensor, tensor_arg: torch.Tensor) -> torch.Tensor:
        arg = tensor_arg[: scores.size(0)]
        self.holder[self.key] = arg.view(torch.float32) if self.kind is float else arg.float()
        return scores


class _Draw(ContinuousBatchingLogitsProcessor):
    """The last processor: draws every row's token and returns one-hot scores for the greedy step."""

    ignored_kwargs: tuple[str, ...] = ()

    def __init__(self, holder: dict) -> None:
        self.holder = holder
        self.supported_kwargs = {"seed": int}

    def fill_defaults(self, int32_tensor: torch.Tensor) -> None:
        int32_tensor.zero_()

    def prepare_tensor_args(self, requests_with_new_token) -> torch.Tensor:
        # position_offset is already advanced past this step's inputs: it is the position drawn.
        draws = []
        for r in requests_with_new_token:
            seed = r.state.logit_processor_kwargs.get("seed")
            draws.append(0.0 if seed is None else uniform(seed, r.state.position_offset))
        return torch.tensor(draws, dtype=torch.float32).view(torch.int32)

    def __call__(self, scores: torch.Tensor, tensor_arg: torch.Tensor) -> torch.Tensor:
        h = self.holder
        u = tensor_arg[: scores.size(0)].view(torch.float32)
        table = torch.stack([h["temperature"], h["top_k"], h["top_p"], u], dim=1)
        picks, _ = sample_tokens(scores, table, min(CANDIDATES, scores.size(-1)))
        onehot = torch.full_like(scores, float("-inf"))
        return onehot.scatter_(1, picks.unsqueeze(1), 0.0)


def _processors() -> ContinuousBatchingLogitsProcessorList:
    holder: dict[str, torch.Tensor] = {}
    procs = [_Carry("temperature", float, 0.0, holder), _Carry("top_k", int, _TOP_K_OFF, holder),
             _Carry("top_p", float, 1.0, holder), _Draw(holder)]
    out = ContinuousBatchingLogitsProcessorList(LogitsProcessorList(procs), per_request_processors=False)
    out.tensors_required = len(procs)  # one argument row each (counted by transformers only for its own)
    return out


@dataclass
class _Request:
    row: Row
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future
    streaming: bool
    tokens: list[int] = field(default_factory=list)


class ContinuousScheduler:
    """Feeds rows to one transformers continuous-batching manager and routes their results."""

    def __init__(self, model, tokenizer, max_memory_percent: float, cache_tokens: int | None = None,
                 max_batch_tokens: int = 2048) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.max_memory_percent = max_memory_percent
        self.cache_tokens = cache_tokens  # paged cache size in tokens; None = max_memory_percent of free memory
        self.max_batch_tokens = max_batch_tokens  # tokens per step (sizes the attention mask), not guessed from memory
        self.capacity: int | None = None  # tokens one request may hold in the paged cache, once known
        self.rebuilds = 0  # managers replaced after their loop died
        self._atexit = False
        self.eos = eos_ids(model, tokenizer)
        self._eos_set = set(self.eos)
        self._added_ids = {t.content: i for i, t in tokenizer.added_tokens_decoder.items()}  # for _split_stops
        self.manager: Any = None
        self._lock = threading.Lock()
        self._requests: dict[str, _Request] = {}
        self._ids = itertools.count()
        self._reader: threading.Thread | None = None
        self._closing = threading.Event()
        self._dead: str | None = None  # why results stopped coming (reader failed, manager stopped)
        self.cancelled_total = 0

    # -- lifecycle --------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closing.is_set():
            raise EngineError("continuous batching: the engine is closed; no new requests")
        if self._dead is not None:  # nothing would ever read a new request's result
            raise EngineError(f"continuous batching is down: {self._dead}")

    def _ensure(self):
        with self._lock:
            self._check_open()  # a closed scheduler does not start a new manager
            if self.manager is None:
                config = GenerationConfig(do_sample=False, eos_token_id=self.eos, max_new_tokens=256,
                                          pad_token_id=self.tokenizer.pad_token_id)
                cb = cb_config(self.max_memory_percent, self.cache_tokens, self.max_batch_tokens)
                with _no_flash_switch(self.model):
                    manager = self.model.init_continuous_batching(generation_config=config,
                                                                  continuous_batching_config=cb)
                manager.logit_processor = _processors()  # before start(): the step is built from it
                _keep_rng(getattr(manager, "distributed_helper", None))
                if not self._atexit:  # runs before Python joins the manager's non-daemon thread at exit
                    register = getattr(threading, "_register_atexit", None)
                    if register is not None:
                        register(_close_at_exit, weakref.ref(self))
                    self._atexit = True
                manager.start()
                self.manager = manager
                self._reader = threading.Thread(target=self._read, args=(manager,), name="hf-continuous-results",
                                                daemon=True)
                self._reader.start()
            return self.manager

    def _capacity(self, manager) -> int | None:
        """Tokens one request can hold: the whole paged cache (known once the manager built it)."""
        if self.capacity is None:
            cache = getattr(getattr(manager, "batch_processor", None), "cache", None)
            if cache is None and self.cache_tokens is None:
                deadline = time.monotonic() + 30  # the manager's thread builds the cache as it starts
                while cache is None and manager.is_running() and time.monotonic() < deadline:
                    time.sleep(0.01)
                    cache = getattr(getattr(manager, "batch_processor", None), "cache", None)
            if cache is not None and getattr(cache, "num_blocks", None):
                per = getattr(cache, "block_size", None) or page_size(manager.continuous_batching_config)
                self.capacity = int(cache.num_blocks) * int(per)
            elif self.cache_tokens is not None:
                cb = cb_config(self.max_memory_percent, self.cache_tokens, self.max_batch_tokens)
                self.capacity = int(cb.num_blocks) * page_size(cb)
        return self.capacity

    def close(self) -> None:
        self._closing.set()
        with self._lock:
            manager, self.manager = self.manager, None
        if manager is not None:  # a hard stop: requests still decoding are failed, not finished
            manager.stop(block=True, timeout=30, hard_stop=True)
        if self._reader is not None:
            self._reader.join(timeout=10)
            self._reader = None
        self._fail_all(EngineError("continuous batching stopped (engine closed)"))

    # -- requests ---------------------------------------------------------------------
    async def submit(self, row: Row) -> RowResult:
        s = row.sampling
        if s is not None and not s.greedy and s.top_k > CANDIDATES:
            raise EngineError(f"engine.scheduler=continuous supports top_k <= {CANDIDATES}, got {s.top_k}")
        self._check_open()
        manager = self.manager or await asyncio.to_thread(self._ensure)
        capacity = self.capacity or await asyncio.to_thread(self._capacity, manager)
        need = len(row.prompt_ids) + row.max_new_tokens
        if capacity is not None and need > capacity:  # it would end the manager's loop ("No requests can be scheduled")
            raise EngineError(
                f"continuous batching: a request of {len(row.prompt_ids)} prompt tokens + {row.max_new_tokens} new "
                f"tokens does not fit the paged KV cache ({capacity} tokens); raise engine.cb_cache_tokens or "
                "lower the budget")
        loop = asyncio.get_running_loop()
        stop_ids, other_stops = self._split_stops(row.stop)
        kwargs: dict[str, Any] = {}
        if s is not None and not s.greedy:
            kwargs = {"temperature": float(s.temperature), "top_p": float(s.top_p), "seed": int(row.seed)}
            if s.top_k > 0:
                kwargs["top_k"] = int(s.top_k)
        for attempt in range(2):
            rid = f"scale-{next(self._ids)}"
            req = _Request(row, loop, loop.create_future(), streaming=bool(other_stops))
            with self._lock:
                self._check_open()  # checked again under the lock: close() or a failure may have come since
                self._requests[rid] = req
            added = manager.add_request(input_ids=list(row.prompt_ids), request_id=rid,
                                        max_new_tokens=row.max_new_tokens, streaming=req.streaming,
                                        eos_token_id=self.eos + stop_ids, **kwargs)
            if added is not None:
                break
            with self._lock:
                self._requests.pop(rid, None)
            if attempt or self._closing.is_set():
                raise EngineError("continuous batching refused the request (its manager is stopping or died)")
            # Its loop died a moment ago and the reader has not seen it yet: settle that here (a new
            # manager, or the scheduler down) and offer the request once more.
            await asyncio.to_thread(self._settle, manager)
            manager = self.manager or await asyncio.to_thread(self._ensure)
        try:
            return await req.future
        except asyncio.CancelledError:
            self._cancel(rid)
            raise

    def _split_stops(self, stops: tuple[str, ...]) -> tuple[list[int], list[str]]:
        """Stop strings that are one added token like ``</think>`` (ended by the manager) and the others.

        Only added tokens qualify: their text never comes out of other tokens, while a plain
        vocabulary piece ("ry") can end a longer token ("ory") that a token id would miss.
        """
        ids, other = [], []
        for stop in stops:
            if stop in self._added_ids:
                ids.append(self._added_ids[stop])
            else:
                other.append(stop)
        return ids, other

    def _cancel(self, rid: str) -> None:
        with self._lock:
            self._requests.pop(rid, None)
            manager = self.manager
        if manager is not None:
            manager.cancel_request(rid)
            self.cancelled_total += 1

    # -- results (reader thread) ------------------------------------------------------
    def _read(self, manager) -> None:
        try:
            self._read_results(manager)
        except Exception as err:  # the only reader: without it every waiting caller would hang
            log.exception("continuous batching: the result reader failed")
            self._die(f"result reader failed: {type(err).__name__}: {err}")

    def _read_results(self, manager) -> None:
        while not self._closing.is_set():
            out = manager.get_result(timeout=0.1)
            if out is None:
                error = manager.background_thread_status.fatal_error
                if error is not None or not manager.is_running():
                    self._lost(manager, f"manager stopped: {error or 'not running'}")
                    return
                continue
            with self._lock:
                req = self._requests.get(out.request_id)
            if req is None:  # cancelled, or a stop string already ended it
                continue
            if out.error is not None:
                # A hard stop on close fails the requests still decoding with the manager's own
                # message; say what happened (the engine was closed) rather than echo it.
                what = "stopped (engine closed)" if self._closing.is_set() else "request failed"
                self._finish(out.request_id, req, EngineError(f"continuous batching {what}: {out.error}"))
                continue
            res = self._check(req, list(out.generated_tokens), out.is_finished())
            if res is not None:
                if not out.is_finished():  # a stop string appeared: end it in the manager now
                    manager.cancel_request(out.request_id)
                self._finish(out.request_id, req, res)

    def _check(self, req: _Request, tokens: list[int], finished: bool) -> RowResult | None:
        """The row's result once its tokens end it (streamed rows are checked token by token)."""
        start = len(req.tokens) + 1 if req.streaming else len(tokens)
        req.tokens = tokens
        res = first_finish(req.row, tokens, self._eos_set, self.tokenizer, start)
        if res is not None:
            return res
        return RowResult(tokens, "length") if finished else None

    def _finish(self, rid: str, req: _Request, result: RowResult | BaseException) -> None:
        with self._lock:
            self._requests.pop(rid, None)
        req.loop.call_soon_threadsafe(_resolve, req.future, result)

    def _settle(self, manager) -> None:
        """A manager that refused a request: once its loop has ended, handle it as the reader would."""
        deadline = time.monotonic() + 30
        while manager.is_running() and time.monotonic() < deadline:
            time.sleep(0.01)
        self._lost(manager, f"manager stopped: {manager.background_thread_status.fatal_error or 'not running'}")

    def _lost(self, manager, reason: str) -> None:
        """The manager's loop ended: fail what it held; the next request builds a new one (``REBUILDS`` times)."""
        with self._lock:
            if self.manager is not manager:  # closed, or already handled (by the reader or a refused submit)
                return
            rebuild = self.rebuilds < REBUILDS and not self._closing.is_set()
            if rebuild:  # the requests it held fail; a request submitted from now on goes to the new one
                self.manager, self._reader = None, None
                self.rebuilds += 1
                pending, self._requests = list(self._requests.values()), {}
        if not rebuild:
            self._die(reason)
            return
        log.warning("continuous batching: %s; the next request starts a new manager", reason)
        err = EngineError(f"continuous batching {reason}")
        for req in pending:
            req.loop.call_soon_threadsafe(_resolve, req.future, err)
        with contextlib.suppress(Exception):  # the loop already ended: this joins its thread
            manager.stop(block=True, timeout=10, hard_stop=True)

    def _die(self, reason: str) -> None:
        """No more results will come: refuse new requests and fail the waiting ones."""
        with self._lock:
            self._dead = reason
        self._fail_all(EngineError(f"continuous batching {reason}"))

    def _fail_all(self, err: BaseException) -> None:
        with self._lock:
            pending, self._requests = list(self._requests.items()), {}
        for _, req in pending:
            req.loop.call_soon_threadsafe(_resolve, req.future, err)


def _resolve(future: asyncio.Future, result: RowResult | BaseException) -> None:
    if future.done():
        return
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)
