"""The three ways of cutting cleaned prose into chunks: by headings, by paragraphs, fixed."""

from __future__ import annotations

from collections.abc import Sequence

from domain.knowledge.chunks import Chunk
from domain.knowledge.flow import Flow, Piece
from domain.knowledge.sections import Block, Section
from domain.knowledge.windows import fixed_windows

PROSE_STRATEGIES = ("headings", "paragraphs", "fixed")

_Item = tuple[Block, tuple[str, ...]]


def prose_chunks(
    path: str, sections: Sequence[Section], strategy: str, max_chars: int, overlap: int
) -> list[Chunk]:
    """Chunks of kind "prose", located by the heading path of where each one starts."""
    items = [(block, section.path) for section in sections for block in section.blocks]
    if strategy == "headings":
        pieces = _by_headings(sections, max_chars, overlap)
    elif strategy == "paragraphs":
        pieces = _packed(items, max_chars, overlap)
    elif strategy == "fixed":
        flow = Flow(items)
        pieces = flow.pieces(fixed_windows(flow.text, max_chars, overlap))
    else:
        raise ValueError(f"unknown chunking strategy {strategy!r}; use one of {PROSE_STRATEGIES}")
    return [
        Chunk(piece.text, path, " > ".join(piece.path), piece.start_line, piece.end_line, "prose")
        for piece in pieces
    ]


def _by_headings(sections: Sequence[Section], max_chars: int, overlap: int) -> list[Piece]:
    units: list[Piece] = []
    for section in sections:
        items = [(block, section.path) for block in section.blocks]
        flow = Flow(items)
        whole = flow.whole() if len(flow.text) <= max_chars else None
        units.extend([whole] if whole else _packed(items, max_chars, overlap))
    return _merge_small(units, max_chars)


def _merge_small(units: Sequence[Piece], max_chars: int) -> list[Piece]:
    """Joins a small unit to its neighbour when both fit in one chunk and stay under one parent.

    A chunk keeps the path of its first section, so a later section may only join when it lies
    under that section's parent: a sibling, or a descendant of one.
    """
    small = max_chars // 4
    merged: list[Piece] = []
    for unit in units:
        last = merged[-1] if merged else None
        if (
            last is not None
            and min(len(last.text), len(unit.text)) < small
            and len(last.text) + 2 + len(unit.text) <= max_chars
            and _under_parent_of(last.path, unit.path)
        ):
            text = f"{last.text}\n\n{unit.text}"
            merged[-1] = Piece(text, last.start_line, unit.end_line, last.path)
        else:
            merged.append(unit)
    return merged


def _under_parent_of(first: tuple[str, ...], other: tuple[str, ...]) -> bool:
    parent = first[:-1]
    return other[: len(parent)] == parent


def _packed(items: Sequence[_Item], max_chars: int, overlap: int) -> list[Piece]:
    """Blocks packed greedily up to max_chars; a code block is never split unless too big alone.

    A heading goes with the text under it rather than end the previous chunk.
    """
    pieces: list[Piece] = []
    run: list[_Item] = []
    size = 0
    for block, path in items:
        length = len(block.text)
        if length > max_chars:
            carried = [run.pop()] if run and run[-1][0].heading else []
            pieces.extend(_flush(run))
            run, size = [], 0
            pieces.extend(_split([*carried, (block, path)], max_chars, overlap))
            continue
        if run and size + 2 + length > max_chars:
            heading = run[-1][0]
            carried = []
            if len(run) > 1 and heading.heading and len(heading.text) + 2 + length <= max_chars:
                carried = [run.pop()]
            pieces.extend(_flush(run))
            run, size = carried, sum(len(item.text) + 2 for item, _ in carried)
        else:
            size += 2 if run else 0
        size += length
        run.append((block, path))
    pieces.extend(_flush(run))
    return pieces


def _flush(run: Sequence[_Item]) -> list[Piece]:
    piece = Flow(run).whole() if run else None
    return [piece] if piece else []


def _split(items: Sequence[_Item], max_chars: int, overlap: int) -> list[Piece]:
    flow = Flow(items)
    code = items[-1][0].code
    windows = fixed_windows(flow.text, max_chars, overlap, lines=code)
    return flow.pieces(windows, keep_indent=code)
