"""Source code cut into chunks: Python by symbol through `ast`, anything else by blank lines."""

from __future__ import annotations

import ast
from collections.abc import Sequence
from dataclasses import dataclass

from domain.knowledge.chunks import Chunk
from domain.knowledge.flow import Flow
from domain.knowledge.sections import Block, Line
from domain.knowledge.windows import fixed_windows

_Definition = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef
_Function = (ast.FunctionDef, ast.AsyncFunctionDef)
_Trivial = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom)


@dataclass(frozen=True)
class _Part:
    """Lines of one symbol (or of the code around symbols) before any size limit applies."""

    path: tuple[str, ...]
    blocks: tuple[Block, ...]


def python_chunks(path: str, text: str, max_chars: int, overlap: int) -> list[Chunk]:
    """One chunk per function and method, per class without methods, and for the rest."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError):  # ValueError: NUL bytes before 3.12
        return block_chunks(path, text, max_chars, overlap)
    lines = text.split("\n")
    definitions = _definitions(tree.body, 1, lines)
    parts: list[_Part] = []
    for node, span in definitions:
        parts.extend(_definition_parts(node, span, (), lines))
    rest = _remainder(lines, 1, len(lines), [span for _, span in definitions], ())
    # Imports alone are not worth a chunk; a docstring, constants or a script body are.
    if rest and (not parts or any(not isinstance(node, _Trivial) for node in tree.body)):
        parts.append(rest)
    parts.sort(key=lambda part: part.blocks[0].lines[0].number)
    chunks: list[Chunk] = []
    for part in parts:
        flow = Flow((block, part.path) for block in part.blocks)
        if len(flow.text) <= max_chars:
            pieces = [piece for piece in [flow.whole(keep_indent=True)] if piece]
        else:
            windows = fixed_windows(flow.text, max_chars, overlap, lines=True)
            pieces = flow.pieces(windows, keep_indent=True)
        locator = ".".join(part.path)
        chunks.extend(
            Chunk(piece.text, path, locator, piece.start_line, piece.end_line, "code")
            for piece in pieces
        )
    return chunks


def _definition_parts(
    node: _Definition, span: tuple[int, int], prefix: tuple[str, ...], lines: Sequence[str]
) -> list[_Part]:
    name = (*prefix, node.name)
    members = [] if isinstance(node, _Function) else _definitions(node.body, node.lineno + 1, lines)
    if not members:
        return [_Part(name, (_block(lines, *span),))]
    parts: list[_Part] = []
    for member, member_span in members:
        parts.extend(_definition_parts(member, member_span, name, lines))
    # The class line, docstring and attributes make a chunk of their own when there are any.
    if any(not isinstance(child, _Definition) and not _is_pass(child) for child in node.body):
        rest = _remainder(lines, *span, [member_span for _, member_span in members], name)
        if rest:
            parts.append(rest)
    return parts


def _definitions(
    body: Sequence[ast.stmt], floor: int, lines: Sequence[str]
) -> list[tuple[_Definition, tuple[int, int]]]:
    """The definitions in a body with their first and last lines.

    A definition starts at its first decorator, or at the comment lines just above it, but
    never before the end of the statement preceding it (floor).
    """
    found: list[tuple[_Definition, tuple[int, int]]] = []
    for node in body:
        last = node.end_lineno or node.lineno
        if isinstance(node, _Definition):
            first = min([node.lineno, *(decorator.lineno for decorator in node.decorator_list)])
            while first > floor and lines[first - 2].lstrip().startswith("#"):
                first -= 1
            found.append((node, (first, last)))
        floor = last + 1
    return found


def _remainder(
    lines: Sequence[str],
    first: int,
    last: int,
    taken: Sequence[tuple[int, int]],
    path: tuple[str, ...],
) -> _Part | None:
    """Lines first..last outside the taken spans, as one block per contiguous run."""
    free = [True] * (last - first + 1)
    for start, end in taken:
        for number in range(max(start, first), min(end, last) + 1):
            free[number - first] = False
    blocks: list[Block] = []
    run_start: int | None = None
    for number in range(first, last + 2):
        if number <= last and free[number - first]:
            run_start = number if run_start is None else run_start
        elif run_start is not None:
            block = _block(lines, run_start, number - 1)
            if block.lines:
                blocks.append(block)
            run_start = None
    return _Part(path, tuple(blocks)) if blocks else None


def _block(lines: Sequence[str], first: int, last: int) -> Block:
    """Lines first..last (1-based) verbatim, without blank lines at either end."""
    while first <= last and not lines[first - 1].strip():
        first += 1
    while last >= first and not lines[last - 1].strip():
        last -= 1
    return Block(tuple(Line(lines[number - 1], number) for number in range(first, last + 1)), True)


def _is_pass(node: ast.stmt) -> bool:
    if isinstance(node, ast.Pass):
        return True
    return (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and (node.value.value is Ellipsis)
    )


def block_chunks(path: str, text: str, max_chars: int, overlap: int) -> list[Chunk]:
    """Blank-line separated blocks packed up to max_chars, never cutting a line.

    A block too big alone is cut between lines; only a single line longer than max_chars is
    cut inside, by fixed windows, since there is no other way to bound it.
    """
    lines = text.split("\n")
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line) + 1)

    def size(first: int, last: int) -> int:  # characters in lines first..last, 0-based
        return offsets[last + 1] - offsets[first] - 1

    units: list[tuple[int, int]] = []
    for first, last in _blank_line_blocks(lines):
        if size(first, last) <= max_chars:
            units.append((first, last))
            continue
        start = first
        for index in range(first, last + 1):
            if index > start and size(start, index) > max_chars:
                units.append((start, index - 1))
                start = index
        units.append((start, last))
    packed: list[tuple[int, int]] = []
    for first, last in units:
        if packed and size(packed[-1][0], last) <= max_chars:
            packed[-1] = (packed[-1][0], last)
        else:
            packed.append((first, last))
    chunks: list[Chunk] = []
    for first, last in packed:
        if size(first, last) <= max_chars:
            body = "\n".join(lines[first : last + 1])
            chunks.append(Chunk(body, path, "", first + 1, last + 1, "code"))
            continue
        line = lines[first]  # a single line longer than max_chars
        for start, end in fixed_windows(line, max_chars, overlap, lines=True):
            chunks.append(Chunk(line[start:end].rstrip(), path, "", first + 1, first + 1, "code"))
    return chunks


def _blank_line_blocks(lines: Sequence[str]) -> list[tuple[int, int]]:
    """Runs of non-blank lines as (first, last), 0-based and inclusive."""
    blocks: list[tuple[int, int]] = []
    start: int | None = None
    for index, line in enumerate(lines):
        if line.strip():
            start = index if start is None else start
        elif start is not None:
            blocks.append((start, index - 1))
            start = None
    if start is not None:
        blocks.append((start, len(lines) - 1))
    return blocks
