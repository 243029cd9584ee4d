"""Cleaned documents as sections of blocks, every line keeping its number in the original file."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Line:
    text: str
    number: int  # 1-based, in the original file


@dataclass(frozen=True)
class Block:
    """A paragraph, a heading or a code block; code blocks are kept whole when they fit."""

    lines: tuple[Line, ...]
    code: bool = False
    heading: bool = False

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)


@dataclass(frozen=True)
class Section:
    """A heading (its own first block) and the blocks under it, up to the next heading."""

    path: tuple[str, ...]  # heading titles from the top level down; () before the first heading
    blocks: tuple[Block, ...]


class SectionBuilder:
    """Collects cleaned lines from a markup parser and groups them into sections and blocks."""

    def __init__(self) -> None:
        self._sections: list[Section] = []
        self._headings: list[tuple[int, str]] = []
        self._blocks: list[Block] = []
        self._paragraph: list[Line] = []

    @property
    def in_paragraph(self) -> bool:
        return bool(self._paragraph)

    def text(self, text: str, number: int) -> None:
        """Adds a cleaned line; one left empty by cleaning was pure markup and is skipped."""
        if text.strip():
            self._paragraph.append(Line(text.rstrip(), number))

    def blank(self) -> None:
        if self._paragraph:
            self._blocks.append(Block(tuple(self._paragraph)))
            self._paragraph = []

    def code(self, lines: Sequence[Line]) -> None:
        self.blank()
        numbered = [index for index, line in enumerate(lines) if line.text.strip()]
        if numbered:
            self._blocks.append(Block(tuple(lines[numbered[0] : numbered[-1] + 1]), code=True))

    def heading(self, level: int, title: str, number: int) -> None:
        title = " ".join(title.split())
        if not title:
            self.blank()
            return
        self._close_section()
        while self._headings and self._headings[-1][0] >= level:
            self._headings.pop()
        self._headings.append((level, title))
        self._blocks.append(Block((Line(title, number),), heading=True))

    def finish(self) -> list[Section]:
        self._close_section()
        return self._sections

    def _close_section(self) -> None:
        self.blank()
        if self._blocks:
            path = tuple(title for _, title in self._headings)
            self._sections.append(Section(path, tuple(self._blocks)))
            self._blocks = []


def plain_sections(text: str) -> list[Section]:
    """Plain text: one untitled section of blank-line separated paragraphs, kept as written."""
    builder = SectionBuilder()
    for number, line in enumerate(text.split("\n"), start=1):
        if line.strip():
            builder.text(line, number)
        else:
            builder.blank()
    return builder.finish()
