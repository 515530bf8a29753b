"""Budget forcing over an OpenAI-compatible server: the thought, then the same turn continued.

Call 1 generates the thought, at most ``thinking_tokens``, stopping at ``</think>``. If the
budget ran out first, the closing text (``BudgetForcing.close_text``) is appended; call 2
continues the *same* assistant turn from there with ``answer_tokens`` more. A thought that
ended the turn (an end-of-turn token inside it) is returned as is, as the HF engine does.
Two ways to continue a turn (``engine.budget_forcing``):

- ``completions``: ``POST /v1/completions`` with the chat prompt rendered here (a local
  tokenizer with the model's chat template; see :mod:`scale.engine.openai_prompt`), the
  thought opened with ``<think>``. Works with vLLM, SGLang and ``transformers serve``.
- ``continue_final_message``: ``POST /v1/chat/completions`` with the partial assistant
  message last and ``continue_final_message: true, add_generation_prompt: false`` (vLLM,
  SGLang); no local tokenizer needed.
- ``auto`` (default): ``completions`` when a local tokenizer resolves, else the other.

Both calls fit the context window as in the HF engine: the thought leaves room for the
closing text and the answer budget. The answer draws with a seed derived from the
request's (:func:`scale.engine.hf_sampling.derive_seed`), not the same one.
"""

from __future__ import annotations

import time
from typing import Any

from scale.engine.hf_sampling import derive_seed
from scale.engine.reasoning import THINK_CLOSE, THINK_OPEN, cut_at_stop
from scale.engine.types import Completion, GenerationRequest
from scale.errors import ConfigError


async def generate_forced(engine, request: GenerationRequest) -> Completion:
    from scale.engine.openai_engine import ContextOverflow, _as_int, overflow

    start = time.perf_counter()
    budget = request.budget
    assert budget is not None
    mode = _mode(engine)
    turn = _Turn(engine, request, mode)
    prompt_tokens, source = await turn.prompt_count()
    space = request.room(prompt_tokens) if prompt_tokens is not None else None
    if space is not None and space < 1:
        return overflow(request, prompt_tokens, source)
    close_count = turn.count(budget.close_text)
    think_cap = budget.thinking_tokens
    if space is not None:
        think_cap = min(think_cap, max(1, space - close_count - budget.answer_tokens))
    try:
        thought, finish, usage1, attempts = await turn.call("", think_cap, (THINK_CLOSE,), request.sampling.seed)
    except ContextOverflow as err:
        return overflow(request, prompt_tokens or 0, source, str(err))
    # vLLM names the stop string that ended the call in ``stop_reason``, SGLang in ``matched_stop``;
    # both drop it from the text.
    closed = THINK_CLOSE in thought or (
        finish == "stop" and THINK_CLOSE in (usage1.get("stop_reason"), usage1.get("matched_stop")))
    thought = thought.split(THINK_CLOSE)[0]
    thought_tokens = _as_int(usage1.get("completion_tokens"))
    meta: dict[str, Any] = {"forcing_mode": mode, "thinking_cap": think_cap, "attempts": attempts}
    prompt_tokens = _as_int(usage1.get("prompt_tokens")) or prompt_tokens or 0
    if finish == "stop" and not closed:  # the model ended its turn inside the thought: nothing to force
        return _done(thought, "", prompt_tokens, thought_tokens, thought_tokens, "stop", False, meta, start)
    forced = not closed
    closing = budget.close_text if forced else THINK_CLOSE
    used = thought_tokens + (close_count if forced else 0)
    answer_cap = budget.answer_tokens if space is None else min(budget.answer_tokens, space - used)
    meta["answer_cap"] = max(answer_cap, 0)
    if answer_cap < 1:  # the window ends with the thought
        return _done(thought, "", prompt_tokens, thought_tokens, thought_tokens, "length", False, meta, start)
    seed = request.sampling.seed
    try:
        answer, finish2, usage2, attempts2 = await turn.call(
            thought + closing, answer_cap, tuple(request.stop), None if seed is None else derive_seed(seed, 1))
    except ContextOverflow as err:
        meta["context_error"] = str(err)
        return _done(thought, "", prompt_tokens, thought_tokens, thought_tokens, "length", False, meta, start)
    meta["attempts"] += attempts2
    if request.stop and finish2 == "stop":  # transformers serve keeps the stop string; vLLM drops it
        answer = cut_at_stop(answer, request.stop)
    answer_tokens = _as_int(usage2.get("completion_tokens"))
    if forced:
        # The closing text as the server counted it: its prompt grew by the thought and the closing.
        grown = _as_int(usage2.get("prompt_tokens")) - prompt_tokens - thought_tokens
        close_count = grown if grown > 0 else close_count
    reasoning_tokens = thought_tokens + close_count if forced else thought_tokens
    meta["thinking_tokens"] = reasoning_tokens
    finish_reason = "budget" if forced else ("length" if finish2 == "length" else "stop")
    return _done(thought, answer, prompt_tokens, reasoning_tokens + answer_tokens, reasoning_tokens, finish_reason,
                 forced, meta, start)


def _mode(engine) -> str:
    if engine.budget_forcing == "completions" and not engine.prompt_tokenizer.available:
        raise ConfigError(f"engine {engine.name!r}: budget_forcing=completions renders the chat prompt locally and "
                          f"needs a tokenizer: set engine.tokenizer (no local tokenizer for {engine.model!r})")
    if engine.budget_forcing != "auto":
        return engine.budget_forcing
    return "completions" if engine.prompt_tokenizer.available else "continue_final_message"


class _Turn:
    """One assistant turn, opened with ``<think>``, continued call after call."""

    def __init__(self, engine, request: GenerationRequest, mode: str) -> None:
        self.engine, self.request, self.mode = engine, request, mode
        self.prompt_text = ""
        if mode == "completions":
            text = engine.prompt_tokenizer.render(list(request.messages), dict(request.template_kwargs))
            self.prompt_text = text if text.rstrip().endswith(THINK_OPEN) else text + THINK_OPEN + "\n"

    async def prompt_count(self) -> tuple[int | None, str | None]:
        if self.request.context_length is None:
            return None, None
        if self.mode == "completions":
            return self.engine.prompt_tokenizer.count_text(self.prompt_text), "tokenizer"
        return await self.engine.prompt_count(self.request)

    def count(self, text: str) -> int:
        tok = self.engine.prompt_tokenizer
        return tok.count_text(text) if tok.available else max(1, len(text) // 4)

    async def call(self, continuation: str, max_tokens: int, stop: tuple[str, ...],
                   seed: int | None) -> tuple[str, str, dict, int]:
        """Generate after the turn so far plus ``continuation``; returns text, finish, usage, attempts."""
        engine = self.engine
        fields = engine.sampling_fields(self.request, max_tokens, seed, stop=stop)
        if self.mode == "completions":
            body = {"model": engine.model, "prompt": self.prompt_text + continuation, **fields}
            url = engine.completions_url
        else:
            partial = {"role": "assistant", "content": THINK_OPEN + "\n" + continuation}
            body = {"model": engine.model, "messages": [*(dict(m) for m in self.request.messages), partial],
                    "continue_final_message": True, "add_generation_prompt": False, **fields}
            if self.request.template_kwargs:
                body["chat_template_kwargs"] = dict(self.request.template_kwargs)
            url = engine.url
        body.update(engine.extra_body)
        data, attempts = await engine.post(url, body)
        choice = data["choices"][0]
        text = choice.get("text") if self.mode == "completions" else _chat_text(choice.get("message") or {})
        usage = dict(data.get("usage") or {})
        for key in ("stop_reason", "matched_stop"):
            if choice.get(key) is not None:
                usage[key] = choice[key]
        return text or "", "length" if choice.get("finish_reason") == "length" else "stop", usage, attempts


def _chat_text(message: dict) -> str:
    """What the model generated in this call, as one text.

    A server with a reasoning parser (vLLM ``--reasoning-parser``, SGLang) moves the thought
    into ``reasoning_content`` / ``reasoning`` and drops the ``</think>`` it split at; the
    thought goes in front, with the tag put back when the parser split the text in two.
    """
    content = message.get("content") or ""
    reasoning = message.get("reasoning_content") or message.get("reasoning") or ""
    if not isinstance(reasoning, str) or not reasoning:
        return content
    return reasoning + THINK_CLOSE + content if content else reasoning


def _done(thought: str, answer: str, prompt_tokens: int, response_tokens: int, reasoning_tokens: int,
          finish_reason: str, forced: bool, meta: dict, start: float) -> Completion:
    return Completion(text=answer.strip(), reasoning=thought.strip(), prompt_tokens=prompt_tokens,
                      response_tokens=response_tokens, reasoning_tokens=reasoning_tokens, finish_reason=finish_reason,
                      seconds=time.perf_counter() - start, forced=forced, meta=meta)
