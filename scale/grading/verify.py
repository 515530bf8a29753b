"""Grade responses against gold answers with Math-Verify, isolated in spawned worker processes.

Math-Verify's own timeout uses ``signal.alarm``: it only works in a process's main thread and
cannot interrupt every slow sympy call. So each comparison runs in the main thread of a
spawned worker (fork is unsafe: the parent has torch threads), and the parent enforces a hard
per-item deadline by killing the worker and starting a fresh one on the next use.
"""

from __future__ import annotations

import asyncio
import logging
import math
import multiprocessing
import queue
import signal
import threading
import weakref
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.context import SpawnContext, SpawnProcess
from types import TracebackType

from scale.data.gold import normalize_gold
from scale.grading.extract import extract_answer
from scale.grading.fastpath import fast_equivalent, list_items, mv_form

__all__ = ["Grader", "Verdict"]

_STARTUP_TIMEOUT_S = 120.0  # spawn + importing sympy/math-verify; slow on a loaded CI box


@dataclass(frozen=True)
class Verdict:
    """Outcome of grading one response."""

    correct: bool
    reason: str  # "equal", "not_equal", "no_answer", "timeout", "parse_error: ...", ...
    predicted: str | None
    gold: str


# --------------------------------------------------------------------------- worker side


def _wrap(answer: str) -> str:
    return "\\boxed{" + answer + "}"


def _mv_compare(gold: str, pred: str, inner_timeout: int | None) -> tuple[bool, str]:
    """Math-Verify comparison; runs in a worker's main thread (its alarm needs that)."""
    from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify
    from math_verify.errors import TimeoutException

    config = (LatexExtractionConfig(boxed_match_priority=0), ExprExtractionConfig())
    try:
        gold_parsed = parse(
            _wrap(gold),
            extraction_config=config,
            parsing_timeout=inner_timeout,
            raise_on_error=True,
        )
        pred_parsed = parse(
            _wrap(pred),
            extraction_config=config,
            parsing_timeout=inner_timeout,
            raise_on_error=True,
        )
    except TimeoutException:
        return False, "timeout"
    except Exception as exc:
        return False, f"parse_error: {type(exc).__name__}"
    if not gold_parsed:
        return False, "parse_error: gold"
    if not pred_parsed:
        return False, "parse_error: predicted"
    timed_out = False
    # One verify per pair so that an error in one (e.g. sympy vs raw string) does not hide
    # a match in another.
    for g in gold_parsed:
        for p in pred_parsed:
            # verify() turns a *gold* inequality into an interval but not a predicted one, so
            # an inequality answer is also tried in the gold seat ("x \geq 5" vs "[5, \infty)").
            orders = [(g, p), (p, g)] if _is_inequality(p) else [(g, p)]
            for first, second in orders:
                try:
                    if verify(first, second, timeout_seconds=inner_timeout, raise_on_error=True):
                        return True, "equal"
                except TimeoutException:
                    timed_out = True
                except Exception:
                    continue
    return False, "timeout" if timed_out else "not_equal"


def _is_inequality(parsed: object) -> bool:
    from sympy.core.relational import Equality, Relational

    return isinstance(parsed, Relational) and not isinstance(parsed, Equality)


def _worker_main(conn: Connection) -> None:
    """Worker loop: warm up, say "ready", then answer (gold, pred, inner_timeout) requests."""
    # Ctrl-C reaches the whole process group; the parent decides what happens to workers.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Timeouts and errors come back as exceptions (raise_on_error=True) and become verdict
    # reasons, so Math-Verify's own log lines would only duplicate them on stderr.
    logging.getLogger("math_verify").setLevel(logging.CRITICAL)
    _mv_compare("\\frac{1}{2}", "0.5", None)  # pay import + grammar compilation up front
    conn.send("ready")
    while True:
        try:
            request = conn.recv()
        except EOFError:  # parent went away
            return
        if request is None:
            return
        gold, pred, inner_timeout = request
        conn.send(_mv_compare(gold, pred, inner_timeout))


# --------------------------------------------------------------------------- parent side


class _Worker:
    """One spawned worker process and the parent's end of its pipe."""

    def __init__(self, ctx: SpawnContext) -> None:
        self._conn, child_conn = ctx.Pipe(duplex=True)
        self.process: SpawnProcess = ctx.Process(
            target=_worker_main, args=(child_conn,), name="scale-grader", daemon=True
        )
        self.process.start()
        child_conn.close()
        try:
            ready = self._conn.poll(_STARTUP_TIMEOUT_S) and self._conn.recv() == "ready"
        except (EOFError, OSError):
            ready = False
        if not ready:
            self.kill()
            raise RuntimeError("math-verify grader worker failed to start")

    def ask(
        self, gold: str, pred: str, inner_timeout: int | None, deadline_s: float
    ) -> tuple[bool, str] | None:
        """Result, or None if the worker did not answer within ``deadline_s``."""
        self._conn.send((gold, pred, inner_timeout))
        if not self._conn.poll(deadline_s):
            return None
        return self._conn.recv()

    def kill(self) -> None:
        self.process.kill()
        self.process.join(timeout=10)
        self._conn.close()


def _kill_all(workers: set[_Worker], lock: threading.Lock) -> None:
    with lock:
        doomed = list(workers)
        workers.clear()
    for worker in doomed:
        worker.kill()


class Grader:
    """Extract an answer from a response and check it against a gold answer.

    ``timeout_s`` is a hard wall-clock limit per Math-Verify comparison: past it the worker is
    killed and the verdict is ``reason="timeout"``. Math-Verify's own alarm is set one second
    earlier (whole seconds only) so most slow items end without losing the worker.
    Thread-safe; up to ``max_workers`` comparisons run at once; workers start lazily.
    """

    def __init__(self, timeout_s: float = 5.0, max_workers: int = 1) -> None:
        if not timeout_s > 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s!r}")
        if max_workers < 1:
            raise ValueError(f"max_workers must be >= 1, got {max_workers!r}")
        self.timeout_s = float(timeout_s)
        self.max_workers = max_workers
        inner = math.floor(self.timeout_s) - 1
        self._inner_timeout: int | None = inner if inner >= 1 else None
        self._ctx = multiprocessing.get_context("spawn")
        # One slot per allowed worker: None = not started (or killed), start on checkout.
        self._slots: queue.SimpleQueue[_Worker | None] = queue.SimpleQueue()
        for _ in range(max_workers):
            self._slots.put(None)
        self._live: set[_Worker] = set()
        self._lock = threading.Lock()
        self._closed = False
        self._finalizer = weakref.finalize(self, _kill_all, self._live, self._lock)

    # -- worker slots ---------------------------------------------------------------

    def _checkout(self) -> _Worker:
        slot = self._slots.get()
        if self._closed:
            self._slots.put(slot)  # wake the next waiter so it sees the close too
            raise RuntimeError("Grader is closed")
        if slot is not None and slot.process.is_alive():
            return slot
        if slot is not None:
            self._forget(slot)
        try:
            worker = _Worker(self._ctx)
        except BaseException:
            self._slots.put(None)
            raise
        with self._lock:
            self._live.add(worker)
        return worker

    def _forget(self, worker: _Worker) -> None:
        with self._lock:
            self._live.discard(worker)
        worker.kill()

    def _checkin(self, worker: _Worker | None) -> None:
        if worker is not None and self._closed:
            self._forget(worker)
            worker = None
        self._slots.put(worker)

    def _pool_equivalent(self, a: str, b: str) -> tuple[bool, str]:
        worker = self._checkout()
        try:
            reply = worker.ask(a, b, self._inner_timeout, self.timeout_s)
        except (EOFError, OSError) as exc:  # worker died (e.g. out of memory) or was closed
            self._forget(worker)
            self._checkin(None)
            return False, f"worker_error: {type(exc).__name__}"
        except BaseException:
            # Interrupted mid-request: the pipe may hold a stale reply, so drop the worker.
            self._forget(worker)
            self._checkin(None)
            raise
        if reply is None:
            self._forget(worker)
            self._checkin(None)
            return False, "timeout"
        self._checkin(worker)
        return reply

    # -- public API -----------------------------------------------------------------

    def equivalent(self, a: str, b: str) -> tuple[bool, str]:
        """Whether answers ``a`` (reference) and ``b`` (candidate) are mathematically equal."""
        fast = fast_equivalent(a, b)
        if fast is not None:
            return fast
        same, reason = self._pool_equivalent(mv_form(a), mv_form(b))
        items = list_items(b)
        if same or reason != "not_equal" or items is None or list_items(a) is not None:
            return same, reason
        # One answer restated in several forms ("\boxed{15\frac{39}{40}}, or
        # \boxed{\frac{639}{40}}") equals a single gold when every form does; a hedge
        # between different values does not.
        for item in items:
            same, reason = self.equivalent(a, item)
            if not same:
                return False, reason
        return True, "equal"

    def grade(self, response: str, gold: str) -> Verdict:
        """Extract the answer from ``response`` and compare it with ``gold``."""
        gold = normalize_gold(gold)
        extraction = extract_answer(response)
        if extraction.answer is None:
            return Verdict(False, "no_answer", None, gold)
        correct, reason = self.equivalent(gold, extraction.answer)
        return Verdict(correct, reason, extraction.answer, gold)

    async def agrade(self, response: str, gold: str) -> Verdict:
        """``grade`` on a thread so the event loop keeps running while a worker computes."""
        return await asyncio.to_thread(self.grade, response, gold)

    def close(self) -> None:
        """Stop all workers; later calls raise RuntimeError."""
        self._closed = True
        drained = 0
        while True:
            try:
                self._slots.get_nowait()
            except queue.Empty:
                break
            drained += 1
        self._finalizer()  # kills idle and busy workers; busy callers get "worker_error"
        for _ in range(drained):
            self._slots.put(None)

    def __enter__(self) -> Grader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
