"""Fixed-size windows over text: bounded length, overlap, and cuts at natural boundaries."""

from __future__ import annotations

import re

# A sentence ends at . ! or ? (optionally closed by quotes or brackets) followed by whitespace.
_SENTENCE_END = re.compile(r"[.!?][\"')\]]*(?=\s)")
_NON_SPACE = re.compile(r"\S")
# Cuts are looked for in this last share of a window; earlier ones would waste too much of it.
_LOOKBACK = 0.3


def fixed_windows(
    text: str, max_chars: int, overlap: int, *, lines: bool = False
) -> list[tuple[int, int]]:
    """(start, end) spans of at most max_chars characters covering every non-space character.

    A window ends at a paragraph break, sentence end or line end in its last 30% when there is
    one (only line ends when `lines`, for code), otherwise at max_chars. The next window starts
    `overlap` characters before that end; with `lines` it starts on a line boundary inside the
    overlap when there is one. The overlap is capped at half a window so that every step moves
    on by at least a third of max_chars, whatever the input.
    """
    if max_chars < 1 or overlap < 0:
        raise ValueError("max_chars must be positive and overlap not negative")
    windows: list[tuple[int, int]] = []
    length = len(text)
    start = _window_start(text, 0, lines=lines)
    while start is not None:
        limit = start + max_chars
        end = length if limit >= length else _cut(text, start, limit, lines=lines)
        windows.append((start, end))
        if end >= length:
            break
        back = end - min(overlap, (end - start) // 2)
        if lines:
            boundary = text.find("\n", back, end)
            back = boundary + 1 if boundary >= 0 else back
        start = _window_start(text, max(back, start + 1), lines=lines)
    return windows


def _window_start(text: str, position: int, *, lines: bool) -> int | None:
    """The first non-space character at or after position, or for code the start of its line."""
    found = _NON_SPACE.search(text, position)
    if found is None:
        return None
    if lines:
        return max(position, text.rfind("\n", position, found.start()) + 1)
    return found.start()


def _cut(text: str, start: int, limit: int, *, lines: bool) -> int:
    floor = start + max(1, int((limit - start) * (1 - _LOOKBACK)))
    best = text.rfind("\n", floor, limit + 1)
    if not lines:
        paragraph = text.rfind("\n\n", floor, limit + 1)
        if paragraph > start:
            return paragraph
        for sentence in _SENTENCE_END.finditer(text, floor, limit + 1):
            best = max(best, sentence.end())
    return best if best > start else limit
