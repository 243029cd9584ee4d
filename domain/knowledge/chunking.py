"""Entry point of chunking: picks the cleaner and cutter for a file from its suffix."""

from __future__ import annotations

from collections.abc import Callable

from domain.knowledge.chunks import Chunk
from domain.knowledge.code import block_chunks, python_chunks
from domain.knowledge.markdown_sections import markdown_sections
from domain.knowledge.prose import PROSE_STRATEGIES, prose_chunks
from domain.knowledge.rst_sections import rst_sections
from domain.knowledge.sections import Section, plain_sections

_PROSE_PARSERS: dict[str, Callable[[str], list[Section]]] = {
    ".md": markdown_sections,
    ".markdown": markdown_sections,
    ".rst": rst_sections,
    ".txt": plain_sections,
}
_CODE_SUFFIXES = frozenset(
    {
        ".js", ".jsx", ".mjs", ".ts", ".tsx", ".go", ".rs", ".java", ".kt", ".scala", ".c",
        ".h", ".cc", ".cpp", ".hpp", ".cs", ".rb", ".php", ".swift", ".sql", ".sh", ".bash",
        ".yaml", ".yml", ".toml", ".ini", ".cfg", ".proto",
    }
)  # fmt: skip
SUPPORTED_SUFFIXES: frozenset[str] = frozenset({*_PROSE_PARSERS, ".py", *_CODE_SUFFIXES})


def chunk_file(
    path: str, text: str, *, strategy: str = "headings", max_chars: int = 1500, overlap: int = 200
) -> list[Chunk]:
    """Cleans and cuts one file's decoded text into chunks whose lines refer to the original.

    `strategy` ("headings", "paragraphs" or "fixed") applies to prose; code is cut by symbol
    (Python) or by blank-line blocks. An unsupported suffix is read as plain text. Windows
    overlap by `overlap` characters, capped at half a window so that cutting always moves on.
    """
    if strategy not in PROSE_STRATEGIES:
        raise ValueError(f"unknown chunking strategy {strategy!r}; use one of {PROSE_STRATEGIES}")
    if max_chars < 1 or overlap < 0:
        raise ValueError("max_chars must be positive and overlap not negative")
    # Line numbers count \n, \r\n and \r alike, as editors and the Python parser do.
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        return []
    suffix = _suffix(path)
    if suffix == ".py":
        return python_chunks(path, text, max_chars, overlap)
    if suffix in _CODE_SUFFIXES:
        return block_chunks(path, text, max_chars, overlap)
    sections = _PROSE_PARSERS.get(suffix, plain_sections)(text)
    return prose_chunks(path, sections, strategy, max_chars, overlap)


def _suffix(path: str) -> str:
    name = path.replace("\\", "/").rsplit("/", 1)[-1]
    dot = name.rfind(".")
    return name[dot:].lower() if dot > 0 else ""
