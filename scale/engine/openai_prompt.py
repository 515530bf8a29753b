"""What the OpenAI engine knows about a prompt: its token count and its rendered text.

The context cap (``GenerationRequest.context_length``) needs the prompt's token count
before the call, and budget forcing over ``/v1/completions`` needs the chat prompt as
text. Sources, first that works:

1. a local tokenizer: ``engine.tokenizer`` or, by default, the served model's name when
   it resolves through :mod:`scale.models` (an embedded name, a local folder, a cached
   Hub id) — exact, and it renders the chat template;
2. the server's ``POST /tokenize`` (vLLM, SGLang): the count only;
3. none: the call goes out uncapped and a "maximum context length" HTTP 400 becomes a
   ``context_overflow`` completion (see :func:`is_context_error`).
"""

from __future__ import annotations

import logging
import re
from typing import Any

from scale.errors import ScaleError

log = logging.getLogger(__name__)

_CONTEXT_ERROR = re.compile(
    r"maximum context length|context length|context window|too many tokens|prompt is too long|"
    r"longer than the model|exceeds the model|input is too long",
    re.IGNORECASE,
)


def is_context_error(message: str) -> bool:
    """Whether a server's 4xx message says the prompt (plus max_tokens) exceeds the context window."""
    return bool(_CONTEXT_ERROR.search(message or ""))


class PromptTokenizer:
    """A local tokenizer for the served model, loaded on first use (None if it does not resolve)."""

    def __init__(self, name: str | None, required: bool = False) -> None:
        self.name = name
        self.required = required
        self._tok: Any = None
        self._tried = False

    @property
    def available(self) -> bool:
        return self.get() is not None

    def get(self):
        if not self._tried:
            self._tried = True
            if self.name:
                try:
                    from scale.models import load_tokenizer

                    self._tok = load_tokenizer(self.name)
                except (ScaleError, OSError, ValueError) as err:
                    if self.required:
                        raise
                    log.info("no local tokenizer for %r (%s); prompt counts come from the server", self.name,
                             str(err).splitlines()[0][:160])
        return self._tok

    def render(self, messages: list[dict], template_kwargs: dict) -> str:
        """The chat prompt as text, generation prompt included (as the server renders it)."""
        return self.get().apply_chat_template(list(messages), add_generation_prompt=True, tokenize=False,
                                              **template_kwargs)

    def count_text(self, text: str) -> int:
        return len(self.get()(text, add_special_tokens=False)["input_ids"])

    def count(self, messages: list[dict], template_kwargs: dict) -> int:
        return self.count_text(self.render(messages, template_kwargs))
