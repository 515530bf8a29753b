"""Split a model's ``<think>...</think>`` reasoning from the visible answer."""

from __future__ import annotations

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"


def split_reasoning(text: str, started_in_thought: bool = False) -> tuple[str, str]:
    """Return ``(reasoning, visible)``.

    Handles a closed block, a block whose opening tag was in the prompt (QwQ, R1 distills,
    budget forcing: ``started_in_thought``), and an unclosed block (all reasoning).
    """
    open_at = text.find(THINK_OPEN)
    close_at = text.find(THINK_CLOSE)
    if close_at != -1 and (open_at == -1 or open_at > close_at):
        # Opening tag was in the prompt.
        return text[:close_at].strip(), text[close_at + len(THINK_CLOSE):].strip()
    if open_at != -1:
        before = text[:open_at]
        rest = text[open_at + len(THINK_OPEN):]
        end = rest.find(THINK_CLOSE)
        if end == -1:
            return rest.strip(), before.strip()
        return rest[:end].strip(), (before + rest[end + len(THINK_CLOSE):]).strip()
    if started_in_thought:
        return text.strip(), ""
    return "", text.strip()


def cut_at_stop(text: str, stops: tuple[str, ...] | list[str]) -> str:
    """``text`` up to its earliest stop string (servers such as ``transformers serve`` keep it)."""
    cuts = [text.find(s) for s in stops if s and s in text]
    return text[: min(cuts)] if cuts else text
