"""Walk a file or folder into a snapshot: decoded text files with their hashes, and counts of
what was skipped (binary, huge, undecodable, unsupported). Never crashes on a bad file."""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from pathlib import Path

from adapters.files.licenses import find_license
from domain.errors import InvalidEvent
from domain.ingestion import SourceFile, SourceSnapshot
from domain.knowledge.chunking import SUPPORTED_SUFFIXES

MAX_FILE_BYTES = 1_000_000
_SKIP_DIRS = {".git", ".hg", ".svn", ".venv", "venv", "node_modules", "__pycache__", ".mypy_cache"}


def read_source(
    path: Path, *, name: str | None = None, license_id: str | None = None
) -> SourceSnapshot:
    if not path.exists():
        raise InvalidEvent(f"no such file or folder: {path}")
    root = path.resolve()
    skipped: Counter[str] = Counter()
    files: list[SourceFile] = []
    for file in _walk(root):
        loaded = _load(file, skipped)
        if loaded is not None:
            relative = file.name if root.is_file() else file.relative_to(root).as_posix()
            files.append(SourceFile(relative, *loaded))
    return SourceSnapshot(
        name=name or str(path).rstrip("/") or ".",
        root=str(root),
        license=license_id or find_license(root),
        files=files,
        skipped=skipped,
        single_file=root.is_file(),
    )


def _walk(root: Path) -> list[Path]:
    if root.is_file():
        return [root]
    found: list[Path] = []
    for folder, subfolders, names in os.walk(root):
        subfolders[:] = sorted(
            d for d in subfolders if d not in _SKIP_DIRS and not d.startswith(".")
        )
        found.extend(Path(folder) / name for name in sorted(names) if not name.startswith("."))
    return found


def _load(file: Path, skipped: Counter[str]) -> tuple[str, str] | None:
    if file.suffix.lower() not in SUPPORTED_SUFFIXES:
        skipped["unsupported"] += 1
        return None
    try:
        if file.stat().st_size > MAX_FILE_BYTES:
            skipped["huge"] += 1
            return None
        data = file.read_bytes()
    except OSError:
        skipped["unreadable"] += 1
        return None
    if b"\0" in data[:8192]:
        skipped["binary"] += 1
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        skipped["undecodable"] += 1
        return None
    return text, hashlib.sha256(data).hexdigest()
