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
    """One section, one chunk (split by paragraphs when too big): a chunk never mixes sections,
    since an answer quoted from a chunk must not borrow a neighbour's facts."""
    units: list[Piece] = []
    bare: Section | None = None  # a heading with nothing under it, waiting for its first child
    for section in sections:
        if bare is not None:
            section = Section(section.path, (*bare.blocks, *section.blocks))
            bare = None
        if all(block.heading for block in section.blocks):
            bare = section
            continue
        items = [(block, section.path) for block in section.blocks]
        flow = Flow(items)
        whole = flow.whole() if len(flow.text) <= max_chars else None
        units.extend([whole] if whole else _packed(items, max_chars, overlap))
    if bare is not None:
        units.extend(_flush([(block, bare.path) for block in bare.blocks]))
    return units


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
