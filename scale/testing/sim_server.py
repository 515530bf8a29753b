"""A simulated OpenAI-compatible server with a stated batching cost model (tests, benchmarks).

A real HTTP/1.1 server (stdlib asyncio, keep-alive) on 127.0.0.1 that answers
``/v1/chat/completions``, ``/v1/completions``, ``/tokenize`` and ``/v1/models`` as vLLM
does, but decodes nothing: every request joins a continuously batched queue whose clock
follows a cost model, and its reply is drawn (seeded) to look like a reasoning model's.
It measures *the client* at the paper's scale without GPUs; it is not a model of vLLM's
kernels. Run it: ``python -m scale.testing.sim_server --port 8000 --time-scale 100``.

Cost model (simulated seconds; ``time_scale`` simulated seconds pass per wall second):

* a decode step over ``b`` running sequences takes ``t(b) = t0 + t1 * b``; every running
  sequence gains one token per step (continuous batching: sequences join and leave between
  steps, at most ``max_batch`` of them, vLLM's ``max_num_seqs`` default 256);
* a sequence's prompt costs ``prefill_s_per_token`` per token, added to the step it joins;
* a sequence is admitted only while the KV cache holds its prompt plus its (drawn) full
  length (``kv_tokens``) — a reservation, where vLLM would preempt and recompute instead.

Defaults: a 32B bf16 model (Qwen3-32B) served by vLLM with tensor parallelism 2 on two
H100 SXM (3.35 TB/s HBM each), derived from the hardware's public figures as vLLM's
decode is memory-bound:

* ``t0 = 18 ms``: one step reads the 64 GB of weights over 2 x 3.35 TB/s (9.6 ms at peak;
  ~60% of peak in practice, plus scheduling and all-reduce) — ~55 tok/s single-stream, the
  range published for 32B models at TP=2 on H100 (e.g. vLLM's performance dashboard);
* ``t1 = 0.25 ms``: each sequence's KV cache read per step: Qwen3-32B keeps 64 layers x 8 KV
  heads x 128 dims x 2 (K, V) x 2 bytes = 256 KiB per token; at a ~6k-token mean context that
  is 1.6 GB per sequence per step, 0.25 ms at 6.7 TB/s. At b = 256 this gives ~3,500 tok/s;
* ``prefill_s_per_token = 65 us`` (~15k prompt tok/s: compute-bound, 2 x 32e9 FLOP per token
  at ~50% of 2 x 989 TFLOP/s dense bf16);
* ``kv_tokens = 280,000``: 2 x 80 GB x 0.9 (vLLM's gpu_memory_utilization) - 64 GB weights
  - ~8 GB activations leaves ~72 GB, / 256 KiB per token.

Response lengths follow the paper's Table 1 (Qwen3-32B, AIME24) per method profile
(:data:`PROFILES`): lognormal, seeded by the request (prompt, seed, stage), so a rerun
of the same client gets the same replies. A problem's gold answer is read from the prompt
(``(sim-answer: X)``, which :func:`sim_question` writes); a final ``\\boxed{}`` holds it with
probability ``p_correct``. Faults by flag: HTTP 500s, 429s, stalls, dropped connections.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import math
import os
import random
import re
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

from scale.runner.order import chain_groups  # one definition; the start order uses it too

# --- profiles: per method, response tokens drawn per call kind (means; Table 1, Qwen3-32B, AIME24) ---
# cot: Tok 7,409 per attempt (one System 2 call). majority: 8 x CoT (59,279 / 8). inftythink:
# Tok 38,451 at Tpi 5,900 -> ~6.5 rounds, so a round ends with a boxed answer w.p. 1/6.5.
# scale: Tok 25,581 at Tpi 3,550 -> ~7 steps; Table 2 at tau=0.5: 55.7% rated hard; a System 1
# step ~600 tokens, so a System 2 step (3,550 - 0.443 * 600) / 0.557 ~ 5,900.
PROFILES: dict[str, dict[str, float]] = {
    "cot": {"think": 7409},
    "majority": {"think": 7410},
    "inftythink": {"round": 5900, "p_finish": 1 / 6.5, "summary": 600},
    "scale": {"steps": 7, "hard": 0.557, "s1_step": 600, "s2_step": 5900, "outline_step": 14},
}
SIGMA = 0.5  # lognormal spread of a response's length
CHARS_PER_TOKEN = 4.0
_ANSWER = re.compile(r"\(sim-answer: ([^)\s]+)\)")


def sim_question(index: int, answer: str) -> str:
    """A synthetic problem whose gold answer the server can read from the prompt."""
    return f"Problem {index}: find the requested quantity for configuration #{index}. (sim-answer: {answer})"


@dataclass
class SimConfig:
    profile: str = "cot"
    max_batch: int = 256
    t0_s: float = 0.018
    t1_s: float = 0.00025
    prefill_s_per_token: float = 0.000065
    kv_tokens: int = 280_000
    context_window: int = 40_960
    time_scale: float = 1.0  # simulated seconds per wall second
    chunk_steps: int = 16  # decode steps simulated per timer tick at most (new arrivals wait <= this)
    length_scale: float = 1.0  # multiply every drawn length (small tests)
    text_chars_per_token: float = 1.0  # body size of the reply's text (0: tiny bodies)
    p_correct: float = 0.75
    seed: int = 0
    api_key_env: str = ""  # when set, requests must carry "Authorization: Bearer $<that variable>"
    p_500: float = 0.0
    p_429: float = 0.0
    p_drop: float = 0.0  # close the connection without an answer
    p_stall: float = 0.0
    stall_s: float = 5.0  # wall seconds a stalled request hangs before it is served
    fault_seed: int = 1

    def step_s(self, b: int) -> float:
        return self.t0_s + self.t1_s * b

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise ValueError(f"profile must be one of {sorted(PROFILES)}, got {self.profile!r}")


@dataclass
class Seq:
    prompt_tokens: int
    tokens: int
    future: asyncio.Future
    remaining: int = 0
    admitted: bool = False

    @property
    def footprint(self) -> int:
        return self.prompt_tokens + self.tokens


@dataclass
class Stats:
    requests: int = 0  # completions answered with 200
    tokenize_requests: int = 0  # POST /tokenize (the client counts a prompt's tokens before each call)
    steps: int = 0
    seq_steps: int = 0  # sum over steps of the running batch size
    decode_tokens: int = 0
    prompt_tokens: int = 0
    busy_sim_s: float = 0.0
    idle_sim_s: float = 0.0  # wall time with nothing running, x time_scale
    first_arrival_sim_s: float | None = None  # the simulated clock (busy + idle) at the first request
    last_finish_sim_s: float | None = None  # ... and when the last answer was done
    max_running: int = 0
    starved_steps: int = 0  # steps below max_batch with nobody waiting: the client left room unused
    kv_blocked_steps: int = 0  # steps with requests waiting that the KV cache could not admit
    kv_token_steps: int = 0  # sum over sequences of tokens x KV footprint (for the batch the cache allows)
    faults: dict[str, int] = field(default_factory=lambda: {"500": 0, "429": 0, "drop": 0, "stall": 0,
                                                            "401": 0})
    bodies_failed: dict[str, int] = field(default_factory=dict)  # body hash -> faults before it was served

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("bodies_failed")
        d["mean_batch"] = self.seq_steps / self.steps if self.steps else 0.0
        # The run's span on the simulated clock: a slow server process (a loaded machine) does not
        # lengthen it; a client slow to send does (the idle time counts, scaled).
        d["span_sim_s"] = (self.last_finish_sim_s or 0.0) - (self.first_arrival_sim_s or 0.0)
        # Bodies that drew a fault and were never answered: what a client's retries did not recover.
        d["bodies_never_served"] = sum(1 for v in self.bodies_failed.values() if v >= 0)
        d["bodies_with_faults"] = len(self.bodies_failed)
        return d


class Batcher:
    """Continuous batching on a simulated clock (see the module docstring)."""

    def __init__(self, cfg: SimConfig, stats: Stats) -> None:
        self.cfg, self.stats = cfg, stats
        self.waiting: deque[Seq] = deque()
        self.running: list[Seq] = []
        self.kv_used = 0
        self.wake = asyncio.Event()
        self.idle_since: float | None = time.monotonic()

    def now_sim(self) -> float:
        idle = (time.monotonic() - self.idle_since) * self.cfg.time_scale if self.idle_since is not None else 0.0
        return self.stats.busy_sim_s + self.stats.idle_sim_s + idle

    async def submit(self, prompt_tokens: int, tokens: int) -> None:
        seq = Seq(prompt_tokens, max(1, tokens), asyncio.get_running_loop().create_future())
        seq.remaining = seq.tokens
        if self.stats.first_arrival_sim_s is None:
            self.stats.first_arrival_sim_s = self.now_sim()
        self.waiting.append(seq)
        self.wake.set()
        await seq.future

    async def run(self) -> None:
        cfg = self.cfg
        next_tick = time.monotonic()
        while True:
            if not self.running and not self.waiting:
                self.wake.clear()
                self.idle_since = time.monotonic()
                await self.wake.wait()
                next_tick = time.monotonic()
            if self.idle_since is not None:
                self.stats.idle_sim_s += (time.monotonic() - self.idle_since) * cfg.time_scale
                self.idle_since = None
            prefill = 0
            while self.waiting and len(self.running) < cfg.max_batch and \
                    (not self.running or self.kv_used + self.waiting[0].footprint <= cfg.kv_tokens):
                seq = self.waiting.popleft()
                self.stats.kv_token_steps += seq.tokens * seq.footprint
                self.running.append(seq)
                self.kv_used += seq.footprint
                prefill += seq.prompt_tokens
            b = len(self.running)
            k = min(cfg.chunk_steps, min(s.remaining for s in self.running))
            dt = k * cfg.step_s(b) + prefill * cfg.prefill_s_per_token
            st = self.stats
            st.steps += k
            st.seq_steps += k * b
            st.decode_tokens += k * b
            st.prompt_tokens += prefill
            st.busy_sim_s += dt
            st.max_running = max(st.max_running, b)
            if b < cfg.max_batch:
                if self.waiting:
                    st.kv_blocked_steps += k
                else:
                    st.starved_steps += k
            # Sleep to the tick's scheduled end: the simulated clock does not drift with overheads.
            next_tick = max(next_tick, time.monotonic() - 0.05) + dt / cfg.time_scale
            delay = next_tick - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            still = []
            for s in self.running:
                s.remaining -= k
                if s.remaining <= 0:
                    self.kv_used -= s.footprint
                    if not s.future.done():
                        s.future.set_result(None)
                else:
                    still.append(s)
            self.running = still
            if len(still) < b:
                st.last_finish_sim_s = st.busy_sim_s + st.idle_sim_s


# --- replies ---------------------------------------------------------------------------------
def _rng(cfg: SimConfig, *parts: Any) -> random.Random:
    h = hashlib.blake2b(repr((cfg.seed, *parts)).encode(), digest_size=8).digest()
    return random.Random(int.from_bytes(h, "big"))


def _draw(rng: random.Random, mean: float, scale: float) -> int:
    mu = math.log(max(mean * scale, 1.0)) - SIGMA**2 / 2
    return max(1, round(rng.lognormvariate(mu, SIGMA)))


def stage_of(prompt: str) -> str:
    """The SCALE stage a prompt asks for, in the words of prompts=default or prompts=authors_shape
    (the Table 1 cells' wording); anything else is a whole solution."""
    if "You plan solutions" in prompt or "sub-goals a student must reach" in prompt or \
            "plans solutions without carrying them out" in prompt:
        return "decompose"
    if "candidate solution outlines" in prompt or "candidate plans (outlines)" in prompt:
        return "select"
    if "Rate how hard the current step is" in prompt or "Rate how hard that next step is" in prompt:
        return "score"
    if "Summarize the reasoning so far" in prompt:
        return "summarize"
    if "Copy the final question" in prompt:
        return "split"
    if "Process so far:" in prompt or "Current question:" in prompt:
        return "step"
    return "solve"


@dataclass
class Reply:
    text: str
    reasoning: str
    tokens: int
    reasoning_tokens: int


def make_reply(cfg: SimConfig, prompt: str, thinking: bool, seed: Any, max_tokens: int) -> Reply:
    """The reply's text and length, seeded by (prompt, seed): a rerun gets the same."""
    prof = PROFILES[cfg.profile]
    stage = stage_of(prompt)
    rng = _rng(cfg, prompt, seed, stage)
    m = _ANSWER.search(prompt)
    gold = m.group(1) if m else "0"
    boxed = f"\\boxed{{{gold if rng.random() < cfg.p_correct else gold + '1'}}}"
    think = 0
    if stage == "decompose":
        n = int(prof.get("steps", 4))
        text = json.dumps({f"step{i + 1}": f"Find quantity q{i + 1} of the configuration" for i in range(n)})
        visible = int(n * prof.get("outline_step", 14))
    elif stage == "select":
        text, visible = "Outline 1", 3
    elif stage == "score":
        text, visible = ("0.8" if rng.random() < prof.get("hard", 0.5) else "0.2"), 3
    elif stage == "summarize":
        visible = _draw(rng, prof.get("summary", 600), cfg.length_scale)
        text = "Summary: progress so far. " + "s" * int(visible * cfg.text_chars_per_token)
    elif stage == "split":
        text, visible = prompt.rsplit("Problem:", 1)[-1].strip()[:200], 30
    else:
        if stage == "step":
            mean = prof["s2_step"] if thinking else prof["s1_step"]
        elif cfg.profile == "inftythink":
            mean = prof["round"]
        else:
            mean = prof["think"]
        total = _draw(rng, mean, cfg.length_scale)
        finished = cfg.profile != "inftythink" or stage == "step" or rng.random() < prof["p_finish"]
        visible = max(1, min(total // 10, 400))
        think = total - visible if thinking else 0
        if not thinking:
            visible = total
        text = ("The result follows. " + ("v" * int(visible * cfg.text_chars_per_token)) +
                (f" So the answer is {boxed}." if finished else " (continuing)"))
    tokens = think + visible
    reasoning = "r" * int(think * cfg.text_chars_per_token) if think else ""
    if tokens > max_tokens:  # cut like a real budget: thought first, no answer
        think = min(think, max_tokens)
        tokens = max_tokens
        text = "" if think == max_tokens else text[: 40]
    return Reply(text=text, reasoning=reasoning, tokens=tokens, reasoning_tokens=think)


def prompt_of(body: dict[str, Any]) -> str:
    if "messages" in body:
        return "\n".join(str(m.get("content") or "") for m in body.get("messages") or [])
    return str(body.get("prompt") or "")


def count_tokens(text: str) -> int:
    return max(1, round(len(text) / CHARS_PER_TOKEN))


# --- HTTP ------------------------------------------------------------------------------------
_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 429: "Too Many Requests",
            500: "Internal Server Error"}


class SimServer:
    """The server: ``await start()`` then ``port``; ``stats`` as JSON at ``GET /stats``."""

    def __init__(self, cfg: SimConfig) -> None:
        self.cfg = cfg
        self.stats = Stats()
        self.batcher: Batcher | None = None
        self.server: asyncio.base_events.Server | None = None
        self.port = 0
        self._fault_rng = random.Random(cfg.fault_seed)
        self._task: asyncio.Task | None = None
        self.api_key = os.environ.get(cfg.api_key_env) if cfg.api_key_env else None

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        self.batcher = Batcher(self.cfg, self.stats)
        self._task = asyncio.create_task(self.batcher.run())
        self.server = await asyncio.start_server(self._handle, host, port, backlog=4096)
        self.port = self.server.sockets[0].getsockname()[1]
        return self.port

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                method, path, _ = line.decode("latin-1").split(" ", 2)
                headers: dict[str, str] = {}
                while True:
                    h = await reader.readline()
                    if h in (b"\r\n", b"\n", b""):
                        break
                    k, _, v = h.decode("latin-1").partition(":")
                    headers[k.strip().lower()] = v.strip()
                raw = await reader.readexactly(int(headers.get("content-length", "0") or 0))
                result = await self._route(method, path.split("?")[0], headers, raw)
                if result is None:  # a dropped connection
                    break
                status, payload, extra = result
                data = json.dumps(payload).encode()
                head = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}", "content-type: application/json",
                        f"content-length: {len(data)}", *extra]
                writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + data)
                await writer.drain()
                if headers.get("connection", "").lower() == "close":
                    break
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            pass
        finally:
            writer.close()

    async def _route(self, method: str, path: str, headers: dict[str, str],
                     raw: bytes) -> tuple[int, Any, list[str]] | None:
        if method == "GET" and path == "/stats":
            return 200, self.stats.to_dict(), []
        if method == "POST" and path == "/stats/reset":
            self.stats.__init__()  # type: ignore[misc]
            return 200, {"ok": True}, []
        if self.api_key and headers.get("authorization") != f"Bearer {self.api_key}":
            self.stats.faults["401"] += 1
            return 401, {"error": {"message": "invalid or missing API key", "code": 401}}, []
        if method == "GET" and path == "/v1/models":
            return 200, {"object": "list", "data": [{"id": "sim", "object": "model",
                                                     "max_model_len": self.cfg.context_window}]}, []
        if method != "POST" or path not in ("/v1/chat/completions", "/v1/completions", "/tokenize"):
            return 404, {"error": {"message": f"no route {method} {path}"}}, []
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            return 400, {"error": {"message": "body is not JSON"}}, []
        prompt = prompt_of(body)
        n_prompt = count_tokens(prompt)
        if path == "/tokenize":
            self.stats.tokenize_requests += 1
            return 200, {"count": n_prompt, "max_model_len": self.cfg.context_window}, []
        return await self._complete(path, body, prompt, n_prompt)

    async def _complete(self, path: str, body: dict[str, Any], prompt: str,
                        n_prompt: int) -> tuple[int, Any, list[str]] | None:
        cfg, st = self.cfg, self.stats
        key = hashlib.blake2b(json.dumps(body, sort_keys=True).encode(), digest_size=8).hexdigest()
        u = self._fault_rng.random()
        fault = None
        for name, p in (("500", cfg.p_500), ("429", cfg.p_429), ("drop", cfg.p_drop), ("stall", cfg.p_stall)):
            if u < p:
                fault = name
                break
            u -= p
        if fault is not None:
            st.faults[fault] += 1
            if fault != "stall":
                st.bodies_failed[key] = st.bodies_failed.get(key, 0) + 1
            if fault == "500":
                return 500, {"error": {"message": "simulated internal error"}}, []
            if fault == "429":
                return 429, {"error": {"message": "simulated rate limit"}}, ["retry-after: 0"]
            if fault == "drop":
                return None
            await asyncio.sleep(cfg.stall_s)
        max_tokens = int(body.get("max_tokens") or 16)
        if n_prompt + max_tokens > cfg.context_window:
            return 400, {"error": {"message": (
                f"This model's maximum context length is {cfg.context_window} tokens. However, you "
                f"requested {n_prompt + max_tokens} tokens ({n_prompt} in the messages, {max_tokens} "
                "in the completion).")}}, []
        kwargs = body.get("chat_template_kwargs") or {}
        thinking = bool(kwargs.get("enable_thinking", True)) if "messages" in body else False
        reply = make_reply(cfg, prompt, thinking, body.get("seed"), max_tokens)
        assert self.batcher is not None
        await self.batcher.submit(n_prompt, reply.tokens)
        if key in st.bodies_failed:
            st.bodies_failed[key] = -1  # served in the end: a retry recovered it
        st.requests += 1
        finish = "length" if reply.tokens >= max_tokens else "stop"
        usage = {"prompt_tokens": n_prompt, "completion_tokens": reply.tokens,
                 "total_tokens": n_prompt + reply.tokens,
                 "completion_tokens_details": {"reasoning_tokens": reply.reasoning_tokens}}
        if path == "/v1/completions":
            choice: dict[str, Any] = {"index": 0, "text": reply.reasoning + reply.text, "finish_reason": finish}
            obj = "text_completion"
        else:
            choice = {"index": 0, "finish_reason": finish,
                      "message": {"role": "assistant", "content": reply.text,
                                  "reasoning_content": reply.reasoning or None}}
            obj = "chat.completion"
        return 200, {"id": f"sim-{key}", "object": obj, "model": body.get("model", "sim"),
                     "choices": [choice], "usage": usage}, []


class SimProcess:
    """The server in its own process (as a real server is): ``with SimProcess(...) as sim: sim.url``.

    ``options``: SimConfig fields (``p_500=0.05``); ``env``: extra environment (the key with
    ``api_key_env`` read by the server from there, so no key is on any command line).
    """

    def __init__(self, env: dict[str, str] | None = None, **options: Any) -> None:
        self.options, self.env = options, env or {}
        self.proc: Any = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def stats(self) -> dict[str, Any]:
        import httpx

        return httpx.get(f"http://127.0.0.1:{self.port}/stats", trust_env=False).json()

    def reset(self) -> None:
        import httpx

        httpx.post(f"http://127.0.0.1:{self.port}/stats/reset", trust_env=False)

    def __enter__(self) -> SimProcess:
        import subprocess
        import sys

        args = [sys.executable, "-m", "scale.testing.sim_server"]
        for k, v in self.options.items():
            args += ["--" + k.replace("_", "-"), str(v)]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, env={**os.environ, **self.env})
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"sim server did not start (exit {self.proc.wait()})")
        self.port = json.loads(line)["port"]
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def chain_bound_s(cfg: SimConfig, ledger: list[dict[str, Any]]) -> float:
    """Simulated seconds an attempt needs even alone on the server: its groups in sequence,
    each as long as its longest call, every decode step at batch 1."""
    total = 0.0
    for group in chain_groups(ledger):
        longest = max(group, key=lambda c: c["response_tokens"])
        total += longest["response_tokens"] * cfg.step_s(1) + longest["prompt_tokens"] * cfg.prefill_s_per_token
    return total


def batch_bound_s(cfg: SimConfig, decode_tokens: int, prompt_tokens: int, batch: float | None = None) -> float:
    """Simulated seconds for every token at the server's full batch (``max_batch`` per step, or ``batch``)."""
    b = batch or cfg.max_batch
    return decode_tokens * cfg.step_s(b) / b + prompt_tokens * cfg.prefill_s_per_token


def kv_batch(cfg: SimConfig, stats: dict[str, Any]) -> float:
    """The mean batch the KV cache holds for these sequences: ``kv_tokens`` over their footprint,
    weighted by how long each stays (its tokens), at most ``max_batch``."""
    if not stats["kv_token_steps"]:
        return float(cfg.max_batch)
    return min(float(cfg.max_batch), cfg.kv_tokens * stats["decode_tokens"] / stats["kv_token_steps"])


# --- GPU-hours per Table 1 cell (slurm/README.md), from the same cost model ---------------------
# The 32B models: SimConfig's defaults (two H100s, TP=2). R1-Distill-Llama-70B on four H100s
# (TP=4), derived the same way: 141 GB of weights over 4 x 3.35 TB/s (~20 ms a step); 80 layers
# x 8 KV heads x 128 dims x 2 x 2 bytes = 320 KiB per token (0.15 ms per sequence at a 6k context
# over 13.4 TB/s); 4 x 80 GB x 0.9 - 141 - ~10 GB = ~137 GB of KV cache = ~430k tokens.
SERVED: dict[str, tuple[int, SimConfig]] = {
    "32b": (2, SimConfig()),
    "70b": (4, SimConfig(t0_s=0.020, t1_s=0.00015, kv_tokens=430_000, prefill_s_per_token=0.00007)),
}
SCALE_OVERHEAD_TOKENS = 2500  # per SCALE attempt: 8 outlines, the selection, the step scores
HARD_SHARE = 0.557  # Table 2 at tau = 0.5: steps routed to System 2 (the 600-token System 1 step as in PROFILES)


def steady_batch(cfg: SimConfig, call_tokens: float, prompt_tokens: float = 500, in_flight: int = 256) -> float:
    """The batch the server holds for calls of this mean length: max_batch, the calls in flight,
    or what the KV cache reserves room for (a lognormal length's length-weighted mean footprint)."""
    footprint = prompt_tokens + call_tokens * math.exp(SIGMA**2)
    return max(1.0, min(float(cfg.max_batch), float(in_flight), cfg.kv_tokens / footprint))


def cell_gpu_hours(method: str, tok: float, tpi: float | None, problems: int, model: str = "32b") -> dict[str, float]:
    """Busy GPU-hours of one Table 1 cell at the steady-state batch (see steady_batch)."""
    gpus, cfg = SERVED[model]
    samples = 1 if method == "MajVote" else 8  # MajVote: one vote of 8 samples per problem
    tokens = problems * samples * tok
    if method == "SCALE":
        tokens += problems * samples * SCALE_OVERHEAD_TOKENS
        call = ((tpi or tok) - (1 - HARD_SHARE) * 600) / HARD_SHARE  # a System 2 step holds the cache
    elif method == "InftyThink":
        call = tpi or tok
    elif method == "MajVote":
        call = tok / 8
    else:
        call = tok
    b = steady_batch(cfg, call, in_flight=problems * 8)
    tok_s = b / cfg.step_s(round(b))
    return {"tokens": tokens, "batch": b, "tok_s": tok_s, "gpu_hours": tokens / tok_s / 3600 * gpus}


def parse_args(argv: list[str] | None = None) -> tuple[argparse.Namespace, SimConfig]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0: any free port (printed on stdout)")
    for f in SimConfig.__dataclass_fields__.values():
        kind = {"int": int, "float": float, "str": str, "str | None": str}[str(f.type)]
        p.add_argument("--" + f.name.replace("_", "-"), type=kind, default=f.default)
    ns = p.parse_args(argv)
    cfg = SimConfig(**{f: getattr(ns, f) for f in SimConfig.__dataclass_fields__})
    return ns, cfg


def main(argv: list[str] | None = None) -> None:
    ns, cfg = parse_args(argv)

    async def serve() -> None:
        server = SimServer(cfg)
        port = await server.start(ns.host, ns.port)
        print(json.dumps({"port": port, "config": asdict(cfg)}), flush=True)
        parent = os.getppid()
        while os.getppid() == parent:  # the process that started it died: stop too
            await asyncio.sleep(1.0)

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())


if __name__ == "__main__":
    main()
