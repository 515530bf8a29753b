"""SCALE stage 1: sample K outlines with System 1, re-sample unparseable ones, pick one."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from scale.ledger import Ledger
from scale.methods.base import finish_failures
from scale.parsing import parse_choice, parse_outline
from scale.prompts import Prompts


@dataclass
class Decomposition:
    steps: list[str]  # chosen outline ([] when every sample failed to parse)
    candidates: list[list[str]] = field(default_factory=list)
    chosen: int | None = None
    raw_failures: list[str] = field(default_factory=list)  # unparseable replies (truncated)
    failures: list[str] = field(default_factory=list)  # failure kinds for metrics
    trace: dict[str, Any] = field(default_factory=dict)


def selection_listing(prompts: Prompts, outlines: list[list[str]]) -> str:
    """The candidates as the selection prompt shows them (``select_outline`` each)."""
    items = []
    for i, outline in enumerate(outlines):
        steps = "\n".join(prompts.fill("select_outline_step", index=j + 1, step=s) for j, s in enumerate(outline))
        as_json = json.dumps({f"step{j + 1}": s for j, s in enumerate(outline)})
        items.append(prompts.fill("select_outline", index=i + 1, steps=steps, json=as_json))
    return prompts.fill("select_join").join(items)


async def decompose(question: str, ctx: Any, ledger: Ledger, seed_of: Callable[[int], int], *,
                    prompts: Prompts, n_outlines: int, temperature: float, max_new_tokens: int,
                    max_rounds: int, max_steps: int, select: bool) -> Decomposition:
    """K sampled outlines; failed parses are re-sampled for up to ``max_rounds`` more rounds."""
    s1 = ctx.systems.s1
    messages = prompts.chat("decompose_system", "decompose_user", question=question)
    good: list[list[str]] = []
    bad: list[str] = []
    hows: list[str] = []
    failures: list[str] = []
    call = 0
    for _ in range(1 + max_rounds):
        need = n_outlines - len(good)
        if need <= 0:
            break
        seeds = [seed_of(call + i) for i in range(need)]
        call += need
        replies = await asyncio.gather(*(
            s1.ask(messages, stage="decompose", ledger=ledger, temperature=temperature,
                   max_new_tokens=max_new_tokens, seed=seed) for seed in seeds))
        for reply in replies:
            failures += finish_failures(reply.finish_reason, truncated=None)  # a cut reply may still parse
            parsed = parse_outline(reply.text, max_steps=max_steps)
            if parsed.ok:
                good.append(list(parsed.steps))
                hows.append(parsed.how)
                if parsed.truncated:
                    failures.append("outline_truncated")
            else:
                bad.append(reply.text[:300])
    result = Decomposition(steps=[], candidates=good, raw_failures=bad)
    result.failures = ["outline_parse"] * len(bad) + failures
    result.trace = {"outline_parse_how": hows, "outline_calls": call}
    if not good:
        result.failures.append("outline_fallback")
        return result
    if len(good) == 1 or not select:
        result.chosen = 0
    else:
        listing = selection_listing(prompts, good)
        chat = prompts.chat("select_system", "select_user", n=len(good), question=question, outlines=listing)
        reply = await s1.ask(chat, stage="select", ledger=ledger, temperature=0.0, max_new_tokens=64)
        result.failures += finish_failures(reply.finish_reason, truncated=None)
        choice = parse_choice(reply.text, len(good))
        if choice is None:
            result.failures.append("select_parse")
            choice = 0
        result.chosen = choice
        result.trace["select_reply"] = reply.text[:300]
    result.steps = list(good[result.chosen])
    return result
