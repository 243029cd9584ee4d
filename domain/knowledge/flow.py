"""Blocks laid out as one text that still knows which original line each character came from."""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass

from domain.knowledge.sections import Block


@dataclass(frozen=True)
class Piece:
    """Text cut from a flow, with its original line span and the path (headings or symbol)."""

    text: str
    start_line: int
    end_line: int
    path: tuple[str, ...]


class Flow:
    """Blocks joined by a blank line, lines by a newline; offsets map back to line numbers."""

    def __init__(self, blocks: Iterable[tuple[Block, tuple[str, ...]]]) -> None:
        parts: list[str] = []
        self._offsets: list[int] = []
        self._numbers: list[int] = []
        self._paths: list[tuple[str, ...]] = []
        position = 0
        for block, path in blocks:
            if parts:
                parts.append("\n\n")
                position += 2
            for index, line in enumerate(block.lines):
                if index:
                    parts.append("\n")
                    position += 1
                self._offsets.append(position)
                self._numbers.append(line.number)
                self._paths.append(path)
                parts.append(line.text)
                position += len(line.text)
        self.text = "".join(parts)

    def whole(self, *, keep_indent: bool = False) -> Piece | None:
        return self.piece(0, len(self.text), keep_indent=keep_indent)

    def pieces(self, spans: Iterable[tuple[int, int]], *, keep_indent: bool = False) -> list[Piece]:
        found = (self.piece(start, end, keep_indent=keep_indent) for start, end in spans)
        return [piece for piece in found if piece is not None]

    def piece(self, start: int, end: int, *, keep_indent: bool = False) -> Piece | None:
        """The span's text with surrounding whitespace trimmed (code keeps its first indent)."""
        raw = self.text[start:end]
        body = raw.strip()
        if not body:
            return None
        first = start + len(raw) - len(raw.lstrip())
        if keep_indent:
            start = max(start, self.text.rfind("\n", start, first) + 1)
            body = self.text[start:end].rstrip()
        else:
            start = first
        line = self._line_index(first)
        last_line = self._line_index(start + len(body) - 1)
        return Piece(body, self._numbers[line], self._numbers[last_line], self._paths[line])

    def _line_index(self, offset: int) -> int:
        return max(0, bisect.bisect_right(self._offsets, offset) - 1)
