"""The chunk: the unit of text that is embedded, retrieved and cited."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Chunk:
    text: str  # what gets embedded and shown: cleaned prose, or code verbatim
    path: str  # the source path as given
    locator: str  # heading path "Install > Linux", Python symbol "Class.method", or ""
    start_line: int  # 1-based, inclusive, in the ORIGINAL file
    end_line: int  # 1-based, inclusive
    kind: str  # "prose" or "code"
