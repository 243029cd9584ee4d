"""Ingestion: turn a snapshot of a source's files into knowledge events, incrementally.

Unchanged files (same content hash) are skipped, changed ones re-chunked, vanished ones removed.
Chunk text is scrubbed like every other input before it reaches the store."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from domain.event_types import KnowledgeEvents
from domain.events import NewEvent
from domain.knowledge.chunking import chunk_file
from domain.ports import EventStore, Scrubber


@dataclass(frozen=True)
class SourceFile:
    relative_path: str
    text: str
    content_hash: str


@dataclass(frozen=True)
class SourceSnapshot:
    name: str
    root: str
    license: str
    files: list[SourceFile]
    skipped: Counter[str] = field(default_factory=Counter)
    single_file: bool = False


@dataclass
class IngestReport:
    sources: list[str] = field(default_factory=list)
    added: int = 0
    changed: int = 0
    unchanged: int = 0
    removed: int = 0
    chunks: int = 0
    skipped: Counter[str] = field(default_factory=Counter)

    def as_json(self) -> dict[str, Any]:
        return {
            "sources": self.sources,
            "documents": {
                "added": self.added,
                "changed": self.changed,
                "unchanged": self.unchanged,
                "removed": self.removed,
            },
            "chunks": self.chunks,
            "skipped": dict(sorted(self.skipped.items())),
        }


@dataclass(frozen=True)
class KnownSource:
    name: str
    root: str
    license: str


class DocumentCatalog(Protocol):
    async def source(self, source_id: str) -> KnownSource | None: ...

    async def documents(self, source_id: str) -> dict[str, tuple[str, str]]:
        """path -> (document_id, content_hash) of what the index holds for the source."""
        ...


@dataclass(frozen=True)
class Changes:
    """A registered source's files since its last sync (see domain/sources.py `Fetched`)."""

    files: list[SourceFile]
    deleted: list[str] = field(default_factory=list)
    complete: bool = False  # True: `files` is everything, the rest is gone
    citation: str | None = None  # "repo@1a2b3c4": documents are cited "repo@1a2b3c4:path"


def _relative_of(name: str, path: str) -> str:
    """A document path back to the file's path in its source: "name/x" or "name@rev:x"."""
    stem = name.rstrip("/")
    if path.startswith(stem + "@") and ":" in path:
        return path.split(":", 1)[1]
    return path[len(stem) + 1 :] if path.startswith(stem + "/") else path


def digest(*parts: str, length: int = 32) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:length]


class IngestionService:
    def __init__(
        self,
        store: EventStore,
        catalog: DocumentCatalog,
        scrubber: Scrubber,
        *,
        strategy: str = "headings",
        max_chars: int = 1500,
    ) -> None:
        self._store = store
        self._catalog = catalog
        self._scrubber = scrubber
        self._strategy = strategy
        self._max_chars = max_chars

    async def ingest(
        self, snapshot: SourceSnapshot, report: IngestReport, progress: Callable[[int], None]
    ) -> None:
        source_id = digest("source", snapshot.name)
        report.sources.append(snapshot.name)
        report.skipped.update(snapshot.skipped)
        await self._register(source_id, snapshot)
        known = await self._catalog.documents(source_id)
        for file in snapshot.files:
            path = self._display_path(snapshot, file)
            document_id = digest("document", source_id, path)
            previous = known.pop(path, None)
            if previous is not None and previous[1] == file.content_hash:
                report.unchanged += 1
            else:
                report.chunks += await self._append_document(source_id, document_id, path, file)
                report.added += previous is None
                report.changed += previous is not None
            progress(1)
        for path, (document_id, _) in known.items():
            await self._remove(source_id, document_id, path)
            report.removed += 1

    async def ingest_changes(
        self, source: KnownSource, changes: Changes, report: IngestReport,
        progress: Callable[[int], None],
    ) -> str:  # fmt: skip
        """Apply what a registered source's fetcher found (domain/sources.py): new and changed
        files, deleted paths, or a complete listing. A file whose content is unchanged keeps
        its document; a changed one is cited at the new revision. The source's id."""
        source_id = digest("source", source.name)
        report.sources.append(source.name)
        await self._register(source_id, SourceSnapshot(source.name, source.root, source.license,
                                                       []))  # fmt: skip
        known = {
            _relative_of(source.name, path): (path, document_id, content_hash)
            for path, (document_id, content_hash) in (
                await self._catalog.documents(source_id)
            ).items()
        }
        prefix = f"{changes.citation}:" if changes.citation else f"{source.name.rstrip('/')}/"
        for file in changes.files:
            previous = known.pop(file.relative_path, None)
            path = prefix + file.relative_path
            if previous is not None and previous[2] == file.content_hash:
                report.unchanged += 1
            else:
                if previous is not None and previous[0] != path:
                    await self._remove(source_id, previous[1], previous[0])
                document_id = digest("document", source_id, path)
                report.chunks += await self._append_document(source_id, document_id, path, file)
                report.added += previous is None
                report.changed += previous is not None
            progress(1)
        gone = list(known) if changes.complete else changes.deleted
        for relative in gone:
            if (found := known.get(relative)) is not None:
                await self._remove(source_id, found[1], found[0])
                report.removed += 1
        return source_id

    async def remove_source(self, name: str) -> int:
        """Every document of the source removed from the index; how many."""
        source_id = digest("source", name)
        documents = await self._catalog.documents(source_id)
        for path, (document_id, _) in documents.items():
            await self._remove(source_id, document_id, path)
        return len(documents)

    async def _remove(self, source_id: str, document_id: str, path: str) -> None:
        event = NewEvent(
            KnowledgeEvents.DOCUMENT_REMOVED,
            {"source_id": source_id, "document_id": document_id, "path": path},
        )
        await self._store.append(f"document-{document_id}", None, [event])

    async def _register(self, source_id: str, snapshot: SourceSnapshot) -> None:
        current = KnownSource(snapshot.name, snapshot.root, snapshot.license)
        if await self._catalog.source(source_id) == current:
            return
        payload = {"source_id": source_id, **current.__dict__}
        await self._store.append(
            f"source-{source_id}", None, [NewEvent(KnowledgeEvents.SOURCE_REGISTERED, payload)]
        )

    async def _append_document(
        self, source_id: str, document_id: str, path: str, file: SourceFile
    ) -> int:
        chunks = chunk_file(
            file.relative_path, file.text, strategy=self._strategy, max_chars=self._max_chars
        )
        payload = {
            "source_id": source_id,
            "document_id": document_id,
            "path": path,
            "content_hash": file.content_hash,
            "strategy": self._strategy,
            "chunks": [
                {
                    "chunk_id": digest("chunk", document_id, file.content_hash, str(index)),
                    "text": self._scrubber.scrub(chunk.text).text,
                    "locator": chunk.locator,
                    "start_line": chunk.start_line,
                    "end_line": chunk.end_line,
                    "kind": chunk.kind,
                }
                for index, chunk in enumerate(chunks)
            ],
        }
        event = NewEvent(KnowledgeEvents.DOCUMENT_INGESTED, payload)
        await self._store.append(f"document-{document_id}", None, [event])
        return len(chunks)

    @staticmethod
    def _display_path(snapshot: SourceSnapshot, file: SourceFile) -> str:
        if snapshot.single_file:
            return snapshot.name
        return f"{snapshot.name.rstrip('/')}/{file.relative_path}"
