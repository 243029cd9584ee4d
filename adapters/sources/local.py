"""A folder or file on this host as a registered source: read whole at each sync (what
`buddy ingest` reads), so a file gone from the folder is gone from the index."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from adapters.files.source_reader import read_source
from adapters.files.text_files import selected
from domain.errors import InvalidEvent
from domain.ingestion import digest
from domain.sources import Fetched, SourceError, SourceSpec


class LocalFetcher:
    async def fetch(self, spec: SourceSpec, previous: Mapping[str, Any] | None) -> Fetched:
        try:
            snapshot = await asyncio.to_thread(read_source, Path(spec.origin), name=spec.name)
        except InvalidEvent as error:
            raise SourceError(str(error)) from None
        files = [f for f in snapshot.files if selected(spec, f.relative_path)]
        snapshot.skipped["excluded"] += len(snapshot.files) - len(files)
        hashes = sorted(f"{f.relative_path}\0{f.content_hash}" for f in files)
        return Fetched(
            revision=digest("revision", *hashes, length=16), files=files, complete=True,
            license=snapshot.license, skipped=+snapshot.skipped,
        )  # fmt: skip
