"""Join concurrent scoring requests into shared forward passes.

Each SCALE attempt asks for the scores of all its steps at once (one request = a list of
token rows). Requests that arrive within ``wait_s`` of each other, from problems in flight
together, are joined into one forward of up to ``max_rows`` rows; a request is never split
between forwards of different batches. The forward runs on a worker thread, so the event
loop keeps serving the engines meanwhile. Each request is told its share of the forward's
seconds (by token count), so the shares of all requests add up to the time spent.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

Rows = Sequence[Sequence[int]]


@dataclass(frozen=True)
class Scored:
    scores: list[float]
    seconds: float  # this request's share of the forward time
    batch_rows: int  # rows in the forward it ran in (its own and others')


class ForwardBatcher:
    def __init__(self, forward: Callable[[Rows], list[float]], max_rows: int = 64, wait_s: float = 0.005) -> None:
        if max_rows < 1:
            raise ValueError(f"max_rows must be >= 1, got {max_rows}")
        self.forward = forward
        self.max_rows = max_rows
        self.wait_s = wait_s
        self.forwards = 0  # forward calls made (tests and the bench read these)
        self.rows = 0
        self._pending: list[tuple[Rows, asyncio.Future[Scored]]] = []
        self._worker: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def submit(self, rows: Rows) -> Scored:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a new event loop (another asyncio.run): start afresh
            self._loop, self._pending, self._worker = loop, [], None
        future: asyncio.Future[Scored] = loop.create_future()
        self._pending.append((rows, future))
        if self._worker is None or self._worker.done():
            self._worker = loop.create_task(self._drain())
        return await future

    def _take(self) -> list[tuple[Rows, asyncio.Future[Scored]]]:
        """Whole requests, in arrival order, up to ``max_rows`` rows (at least one request)."""
        taken, total = [], 0
        while self._pending:
            rows, future = self._pending[0]
            if taken and total + len(rows) > self.max_rows:
                break
            self._pending.pop(0)
            if future.done():  # its caller was cancelled
                continue
            taken.append((rows, future))
            total += len(rows)
        return taken

    async def _drain(self) -> None:
        while self._pending:
            await asyncio.sleep(self.wait_s)  # let the other attempts in flight join this forward
            batch = self._take()
            if not batch:
                continue
            flat = [row for rows, _ in batch for row in rows]
            start = time.perf_counter()
            try:
                scores = await asyncio.to_thread(self.forward, flat)
            except Exception as err:  # every caller of this forward gets the error
                for _, future in batch:
                    if not future.done():
                        future.set_exception(err)
                continue
            seconds = time.perf_counter() - start
            self.forwards += 1
            self.rows += len(flat)
            tokens = sum(len(r) for r in flat) or 1
            at = 0
            for rows, future in batch:
                own = scores[at:at + len(rows)]
                at += len(rows)
                if not future.done():
                    share = seconds * sum(len(r) for r in rows) / tokens
                    future.set_result(Scored(own, share, len(flat)))
