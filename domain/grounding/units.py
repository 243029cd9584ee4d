"""Passages cut into the units an extractive answer may quote: sentences of prose, whole lines
of lists and tables, and code blocks kept whole."""

from __future__ import annotations

import re
from dataclasses import dataclass

_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z`\"'(\[0-9])")
_LONG_CODE = 600  # a longer code block is quoted in pieces of about half this
_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")
_CODE_LINE = re.compile(
    r"^\s{2,}\S|^\s*(?:\$ |>>> |def |class |import |from \S+ import |@|#!|[\w.]+\(.*\)\s*$)"
    r"|[{};]\s*$|^\s*[\w.\-]+\s*[:=]\s*\S+\s*$"
)


@dataclass(frozen=True)
class Unit:
    """A quotable piece of one passage: its text verbatim, and where it sits in the passage."""

    passage: int  # 0-based index of the passage it came from
    position: int  # its order within the passage
    text: str
    code: bool
    heading: bool = False


def passage_units(passage: int, text: str, *, code: bool) -> list[Unit]:
    """Units of one passage, in order. A code passage is cut at blank lines only."""
    units: list[Unit] = []
    for block_text, is_code in _blocks(text, code=code):
        if is_code:
            for piece in _code_pieces(block_text):
                units.append(Unit(passage, len(units), piece, True))
            continue
        lines = block_text.split("\n")
        if len(lines) == 1 and units == [] and not _ends_sentence(lines[0]) and len(lines[0]) < 80:
            units.append(Unit(passage, len(units), block_text, False, heading=True))
            continue
        for piece in _prose_pieces(lines):
            units.append(Unit(passage, len(units), piece, False))
    return units


def _blocks(text: str, *, code: bool) -> list[tuple[str, bool]]:
    """Blank-line separated blocks; a fenced block is one block even with blank lines inside."""
    blocks: list[tuple[str, bool]] = []
    current: list[str] = []
    fence: str | None = None
    for line in text.split("\n"):
        opener = _FENCE.match(line)
        if fence is not None:
            current.append(line)
            if opener and opener.group(1)[0] == fence[0] and len(line.strip()) >= len(fence):
                blocks.append(("\n".join(current), True))
                current, fence = [], None
            continue
        if opener:
            if current:
                blocks.append(("\n".join(current), code or _looks_like_code(current)))
            current, fence = [line], opener.group(1)
            continue
        if line.strip():
            current.append(line)
        elif current:
            blocks.append(("\n".join(current), code or _looks_like_code(current)))
            current = []
    if current:
        blocks.append(("\n".join(current), code or fence is not None or _looks_like_code(current)))
    return blocks


def _looks_like_code(lines: list[str]) -> bool:
    """reStructuredText code blocks arrive dedented, without fences: tell them by their lines."""
    if any(_ends_sentence(line) and len(line.split()) > 6 for line in lines):
        return False
    return sum(bool(_CODE_LINE.search(line)) for line in lines) * 2 > len(lines)


def _ends_sentence(line: str) -> bool:
    return line.rstrip().endswith((".", "!", "?", ":"))


def _prose_pieces(lines: list[str]) -> list[str]:
    """List items and table rows stay whole lines; running text is cut into sentences."""
    pieces: list[str] = []
    paragraph: list[str] = []
    for line in lines:
        if _LIST_ITEM.match(line) or line.lstrip().startswith("|"):
            pieces.extend(_sentences(" ".join(paragraph)))
            paragraph = []
            pieces.append(line.strip())
        elif pieces and not paragraph and _LIST_ITEM.match(pieces[-1] or "") and line[:1] == " ":
            pieces[-1] = f"{pieces[-1]} {line.strip()}"  # a list item's continuation line
        else:
            paragraph.append(line.strip())
    pieces.extend(_sentences(" ".join(paragraph)))
    return [piece for piece in pieces if piece]


def _sentences(text: str) -> list[str]:
    return [piece.strip() for piece in _SENTENCE_END.split(text) if piece.strip()]


def _code_pieces(block: str) -> list[str]:
    """A long code block in runs of whole lines, without its fences (the answer re-fences)."""
    lines = block.split("\n")
    if _FENCE.match(lines[0]):
        lines = lines[1:-1] if len(lines) > 1 and _FENCE.match(lines[-1]) else lines[1:]
    if sum(len(line) + 1 for line in lines) <= _LONG_CODE:
        return ["\n".join(lines)] if any(line.strip() for line in lines) else []
    pieces: list[str] = []
    run: list[str] = []
    for line in lines:
        if run and sum(len(kept) + 1 for kept in run) + len(line) > _LONG_CODE // 2:
            pieces.append("\n".join(run))
            run = []
        run.append(line)
    if run:
        pieces.append("\n".join(run))
    return [piece for piece in pieces if piece.strip()]
