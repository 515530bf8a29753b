"""Records of two runs that should agree, compared without what may differ: wall-clock time.

Used by the tests and ``benchmarks/bench_sweep.py`` to check that a resumed, sharded or shared
(``sweep=shared``) run equals an independent, uninterrupted one, record for record.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from scale.rundir import Record


def comparable(rec: Record, ledger_order: bool = False) -> dict[str, Any]:
    """Every field of ``rec`` but its seconds (the record's, each call's, the cost's).

    Calls made concurrently (the outline samples, the step scores) are appended to the ledger
    as they finish, so its order may differ between two equal runs: by default the ledger is
    compared as a multiset (each solve call carries its step index); ``ledger_order=True``
    compares it in order. The trace is compared as canonical JSON (1 and 1.0 differ).
    """
    d = rec.to_dict()
    d.pop("seconds")
    calls = [json.dumps({k: v for k, v in c.items() if k != "seconds"}, sort_keys=True) for c in d["ledger"]]
    d["ledger"] = calls if ledger_order else sorted(calls)
    d["cost"] = {k: v for k, v in d["cost"].items() if k not in ("seconds", "by_stage")}
    d["trace"] = json.dumps(d["trace"], sort_keys=True)
    return d


def comparable_records(records: Iterable[Record], ledger_order: bool = False) -> dict[tuple[str, int], dict[str, Any]]:
    """:func:`comparable` of each record, by (problem_id, sample_idx)."""
    return {r.key: comparable(r, ledger_order) for r in records}
