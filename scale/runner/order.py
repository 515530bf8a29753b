"""Which attempt starts next: the longest expected chain of sequential calls first (issue 22).

When fewer attempts run at once than a run has (``runner.max_concurrency`` below the cell's
attempts: the HF engine's 16 on CPU, a server's 256 under a dataset of several cells), the
last attempts to start set the run's tail; starting the longest first (longest processing
time first) shortens it. What is known before an attempt runs:

- its problem's samples that have finished: in this run, or in the run dir a resumed run
  reads. Samples of one problem share the question and its difficulty, so their chains are
  alike; an attempt's *chain* is its calls as consecutive groups of one (stage, step) — a
  group may have run in parallel (K outlines, majority's votes, the step scores), groups one
  after another — each as long as its longest call's response tokens (:func:`chain_tokens`).
- nothing better: SCALE's number of steps comes from the attempt's own outline, InftyThink's
  rounds from its own replies, and a prompt's length does not tell a reply's. A method's
  declared chain would be the same for every attempt of a run.

The rule: problems with no finished sample start first, in the given order (problem-major;
they may be long, and their first sample measures them); then the pending samples of the
measured problems, the longest chain (the longest finished sample of the problem) first,
ties in the given order. So a fresh run starts as before, and reorders only once some of a
problem's samples have finished and others wait. Its limit: one problem's samples can differ
widely (lognormal lengths), so the estimate is rough. Records do not depend on the order (an
attempt's seeds come from its problem and sample index, never its position).
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scale.data import Problem

Item = tuple["Problem", int]


def chain_groups(ledger: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """An attempt's calls as consecutive groups of one (stage, step); the score calls of one
    step (issued together) form one group."""
    def key(call: dict[str, Any]) -> tuple[Any, Any]:
        return call["stage"], None if call["stage"] == "score" else call.get("step")

    groups: list[list[dict[str, Any]]] = []
    for call in ledger:
        if groups and key(groups[-1][0]) == key(call):
            groups[-1].append(call)
        else:
            groups.append([call])
    return groups


def chain_tokens(ledger: list[dict[str, Any]]) -> int:
    """Response tokens along the attempt's chain: each group's longest call, groups in sequence."""
    return sum(max(c["response_tokens"] for c in group) for group in chain_groups(ledger))


def known_chains(records: Iterable[Any]) -> dict[str, int]:
    """The longest chain per problem among finished records (error records measure nothing)."""
    out: dict[str, int] = {}
    for rec in records:
        if rec.error is None:
            out[rec.problem_id] = max(out.get(rec.problem_id, 0), chain_tokens(rec.ledger))
    return out


class StartOrder:
    """The pending attempts of a run, handed out by the rule above (``next``), learning each
    problem's chain from finished records (``finished``)."""

    def __init__(self, items: Iterable[Item], known: dict[str, int] | None = None) -> None:
        self._rank: dict[str, int] = {}  # the problem's place in the given order
        self._pending: dict[str, list[int]] = {}  # problem id -> its samples not yet started
        self._problems: dict[str, Problem] = {}
        for problem, sample_idx in items:
            self._rank.setdefault(problem.id, len(self._rank))
            self._pending.setdefault(problem.id, []).append(sample_idx)
            self._problems[problem.id] = problem
        self.chain: dict[str, int] = dict(known or {})  # problem id -> longest finished chain
        self._unknown = deque(pid for pid in self._pending if pid not in self.chain)  # in order
        self._heap = [(-self.chain[pid], self._rank[pid], pid) for pid in self._pending if pid in self.chain]
        heapq.heapify(self._heap)

    def __len__(self) -> int:
        return sum(len(s) for s in self._pending.values())

    def finished(self, problem_id: str, ledger: list[dict[str, Any]]) -> None:
        """A finished attempt's ledger measures its problem's chain."""
        tokens = chain_tokens(ledger)
        if tokens <= self.chain.get(problem_id, -1):
            return
        self.chain[problem_id] = tokens
        if self._pending.get(problem_id):
            heapq.heappush(self._heap, (-tokens, self._rank[problem_id], problem_id))

    def next(self) -> Item | None:
        """The attempt to start now, or None when none is left."""
        while self._unknown:
            pid = self._unknown[0]
            if pid in self.chain:  # measured meanwhile: its rest waits in the heap
                self._unknown.popleft()
                continue
            return self._take(pid, drop=lambda: self._unknown.popleft())
        while self._heap:
            neg, _, pid = self._heap[0]
            if not self._pending.get(pid) or -neg != self.chain[pid]:  # done, or a stale estimate
                heapq.heappop(self._heap)
                continue
            return self._take(pid, drop=lambda: heapq.heappop(self._heap))
        return None

    def _take(self, pid: str, drop: Callable[[], Any]) -> Item:
        samples = self._pending[pid]
        sample_idx = samples.pop(0)
        if not samples:
            drop()
        return self._problems[pid], sample_idx
