"""Requests for the HF engine scheduler tests: one user turn, a long request that later
ones must overtake, and a stop string taken from a row's own tokens."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from scale.engine.types import Completion, Engine, GenerationRequest, SamplingParams


def user_request(text: str, max_new: int, **sampling) -> GenerationRequest:
    """One user turn, thinking off; ``sampling`` goes to :class:`SamplingParams`."""
    return GenerationRequest(({"role": "user", "content": text},),
                             SamplingParams(max_new_tokens=max_new, **sampling), {"enable_thinking": False})


async def long_then_late(engine: Engine, long: GenerationRequest, late: Sequence[GenerationRequest],
                         wait: Callable[[asyncio.Task], Awaitable[None]],
                         ) -> tuple[Completion, list[Completion], list[str]]:
    """Start ``long``; once ``wait(its task)`` returns (the caller's own sign that it is
    decoding), send ``late`` together. Returns the long completion, the late ones, and the
    order they finished in ("long", "late0", "late1", ...)."""
    order: list[str] = []

    async def tagged(name: str, req: GenerationRequest) -> Completion:
        c = await engine.generate(req)
        order.append(name)
        return c

    first = asyncio.create_task(tagged("long", long))
    await wait(first)
    rest = await asyncio.gather(*(tagged(f"late{i}", r) for i, r in enumerate(late)))
    return await first, list(rest), order


def answer_once(engine: Engine, request: GenerationRequest,
                close: Callable[[], Awaitable[None]] | None = None) -> Completion:
    """``engine``'s answer to ``request``, then ``close()`` (default ``engine.aclose``)."""

    async def ask() -> Completion:
        try:
            return await engine.generate(request)
        finally:
            await (close or engine.aclose)()

    return asyncio.run(ask())


def fresh_stop(tok, tokens: list[int], k: int) -> str:
    """The shortest end of the text of ``tokens[:k]`` that the text of ``tokens[:k-1]`` does not
    hold: a stop string that a row decoding ``tokens`` completes exactly at its ``k``-th token."""
    text, before = tok.decode(tokens[:k]), tok.decode(tokens[: k - 1])
    for m in range(1, len(text) + 1):
        if text[-m:] not in before:
            return text[-m:]
    return text
