"""Which files become documents: kept, or why not (unsupported, huge, binary, undecodable, left
out by a source's globs). `buddy ingest` and every registered source's fetcher apply these."""

from __future__ import annotations

import hashlib
from collections import Counter
from fnmatch import fnmatch
from pathlib import PurePosixPath

from domain.ingestion import SourceFile
from domain.knowledge.chunking import SUPPORTED_SUFFIXES
from domain.sources import SourceSpec

MAX_FILE_BYTES = 1_000_000


def selected(spec: SourceSpec, path: str) -> bool:
    """Inside the source's include globs (all when none) and outside its exclude globs."""
    included = not spec.include or any(fnmatch(path, glob) for glob in spec.include)
    return included and not any(fnmatch(path, glob) for glob in spec.exclude)


_UNSAFE_PARTS = frozenset({"", ".", "..", ".git"})


def safe_path(path: str) -> bool:
    """A relative path that stays inside its source: no `..`, `.git` or empty part, not absolute,
    no backslash or control character. A crafted Git tree can name `../x.md`; it is never
    written to disk, but no document may be cited as lying outside its source."""
    if path.startswith("/") or "\\" in path or any(ord(c) < 32 or ord(c) == 127 for c in path):
        return False
    return not any(part in _UNSAFE_PARTS for part in path.split("/"))


def readable(path: str, size: int, skipped: Counter[str]) -> bool:
    """Worth reading at all, before its bytes are fetched."""
    if PurePosixPath(path).suffix.lower() not in SUPPORTED_SUFFIXES:
        skipped["unsupported"] += 1
        return False
    if size > MAX_FILE_BYTES:
        skipped["huge"] += 1
        return False
    return True


def text_file(path: str, data: bytes, skipped: Counter[str]) -> SourceFile | None:
    if b"\0" in data[:8192]:
        skipped["binary"] += 1
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        skipped["undecodable"] += 1
        return None
    return SourceFile(path, text, hashlib.sha256(data).hexdigest())
