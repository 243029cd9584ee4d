"""Knowledge-base chunks for the cold start (domain/synthesis.py): a deterministic choice spread
across sources and, within each, across documents, read from the knowledge index tables."""

from __future__ import annotations

import itertools
from collections.abc import Collection, Iterable, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa

from adapters.store import schema
from adapters.store.database import Database
from domain.synthesis import MIN_CHUNK_CHARS, KnowledgeChunk

T = TypeVar("T")
_BATCH = 500


class SqlChunkSource:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def count_chunks(self) -> int:
        async with self._db.read() as conn:
            found = await conn.scalar(sa.select(sa.func.count()).select_from(schema.kb_chunks))
        return int(found or 0)

    async def sample_chunks(
        self, n: int, *, min_chars: int = MIN_CHUNK_CHARS, skip: Collection[str] = ()
    ) -> list[KnowledgeChunk]:
        """Sources take turns (by source id), and within a source its documents take turns (by
        path), each giving its chunks in line order: the first `n` not skipped are chosen."""
        chunks = schema.kb_chunks
        query = (
            sa.select(chunks.c.chunk_id, chunks.c.source_id, chunks.c.path)
            .where(sa.func.length(chunks.c.text) >= min_chars)
            .order_by(chunks.c.source_id, chunks.c.path, chunks.c.start_line, chunks.c.chunk_id)
        )
        async with self._db.read() as conn:
            rows = (await conn.execute(query)).all()
        by_source: dict[str, dict[str, list[str]]] = {}
        for chunk_id, source_id, path in rows:
            by_source.setdefault(source_id, {}).setdefault(path, []).append(chunk_id)
        order = _take_turns(_take_turns(documents.values()) for documents in by_source.values())
        chosen = list(itertools.islice((c for c in order if c not in skip), max(n, 0)))
        return await self._read(chosen)

    async def _read(self, chunk_ids: Sequence[str]) -> list[KnowledgeChunk]:
        chunks, sources = schema.kb_chunks, schema.kb_sources
        found: dict[str, Any] = {}
        for start in range(0, len(chunk_ids), _BATCH):
            query = (
                sa.select(
                    chunks.c.chunk_id,
                    chunks.c.path,
                    chunks.c.text,
                    chunks.c.start_line,
                    chunks.c.end_line,
                    sources.c.license,
                )
                .join(sources, sources.c.source_id == chunks.c.source_id, isouter=True)
                .where(chunks.c.chunk_id.in_(list(chunk_ids[start : start + _BATCH])))
            )
            async with self._db.read() as conn:
                found.update({row.chunk_id: row for row in await conn.execute(query)})
        return [
            KnowledgeChunk(
                chunk_id=row.chunk_id,
                source=row.path,
                text=row.text,
                start_line=row.start_line,
                end_line=row.end_line,
                license=row.license or "unknown",
            )
            for row in (found[chunk_id] for chunk_id in chunk_ids if chunk_id in found)
        ]


def _take_turns(groups: Iterable[Iterable[T]]) -> list[T]:
    """Round robin: the first of each group, then the second of each, and so on."""
    turns, taken = [iter(group) for group in groups], []
    while turns:
        still = []
        for turn in turns:
            for item in turn:  # one item, if any is left
                taken.append(item)
                still.append(turn)
                break
        turns = still
    return taken
