"""Walk a file or folder into a snapshot: decoded text files with their hashes, and counts of
what was skipped (binary, huge, undecodable, unsupported). Never crashes on a bad file."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

from adapters.files.licenses import find_license
from adapters.files.text_files import readable, text_file
from domain.errors import InvalidEvent
from domain.ingestion import SourceFile, SourceSnapshot

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
        relative = file.name if root.is_file() else file.relative_to(root).as_posix()
        loaded = _load(file, relative, skipped)
        if loaded is not None:
            files.append(loaded)
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


def _load(file: Path, relative: str, skipped: Counter[str]) -> SourceFile | None:
    try:
        if not readable(file.name, file.stat().st_size, skipped):
            return None
        data = file.read_bytes()
    except OSError:
        skipped["unreadable"] += 1
        return None
    return text_file(relative, data, skipped)
