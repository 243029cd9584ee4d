"""The knowledge index as a projection of the ingestion events: rebuildable from position 0.

Chunk texts travel in the events; embeddings are derived here, in batches across documents, with
the model name and dimension recorded on every row so a model change is noticed, not mixed in."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.store import schema
from adapters.store.rows import update_or_insert
from adapters.vector import vectors
from domain.event_types import KnowledgeEvents
from domain.events import RecordedEvent
from domain.knowledge.search_text import SEARCH_TEXT_VERSION, search_text

log = logging.getLogger(__name__)

HANDLED = {
    KnowledgeEvents.SOURCE_REGISTERED,
    KnowledgeEvents.DOCUMENT_INGESTED,
    KnowledgeEvents.DOCUMENT_REMOVED,
}


class ArrayEmbedder(Protocol):
    model_name: str
    dimension: int

    async def embed_array(self, texts: Sequence[str]) -> Any: ...


class KnowledgeIndexProjection:
    name = "knowledge_index"

    def __init__(self, embedder: ArrayEmbedder) -> None:
        self._embedder = embedder

    @property
    def model_label(self) -> str:
        """The embedder and the search-text recipe: a change of either re-embeds the index."""
        return f"{self._embedder.model_name} text-v{SEARCH_TEXT_VERSION}"

    async def apply(self, conn: AsyncConnection, events: Sequence[RecordedEvent]) -> None:
        relevant = [event for event in events if event.type in HANDLED]
        texts = [
            _search_text(event.payload["path"], chunk)
            for event in relevant
            if event.type == KnowledgeEvents.DOCUMENT_INGESTED
            for chunk in event.payload["chunks"]
        ]
        embeddings = await self._embedder.embed_array(texts) if texts else []
        cursor = 0
        for event in relevant:
            if event.type == KnowledgeEvents.SOURCE_REGISTERED:
                await _upsert_source(conn, event)
            elif event.type == KnowledgeEvents.DOCUMENT_REMOVED:
                await _remove_document(conn, event.payload["document_id"])
            else:
                count = len(event.payload["chunks"])
                await self._ingest(conn, event, embeddings[cursor : cursor + count])
                cursor += count

    async def _ingest(self, conn: AsyncConnection, event: RecordedEvent, embeddings: Any) -> None:
        payload = event.payload
        await _remove_document(conn, payload["document_id"])
        await conn.execute(
            sa.insert(schema.kb_documents).values(
                document_id=payload["document_id"],
                source_id=payload["source_id"],
                path=payload["path"],
                content_hash=payload["content_hash"],
                chunk_count=len(payload["chunks"]),
                ingested_at=event.recorded_at,
            )
        )
        rows = [
            {
                "chunk_id": chunk["chunk_id"],
                "document_id": payload["document_id"],
                "source_id": payload["source_id"],
                "path": payload["path"],
                "locator": chunk["locator"],
                "start_line": chunk["start_line"],
                "end_line": chunk["end_line"],
                "kind": chunk["kind"],
                "text": chunk["text"],
                "model": self.model_label,
                "dimension": self._embedder.dimension,
            }
            for chunk in payload["chunks"]
        ]
        if rows:
            searched = [_search_text(payload["path"], chunk) for chunk in payload["chunks"]]
            await vectors.insert_chunks(conn, rows, embeddings, searched)

    async def reset(self, conn: AsyncConnection) -> None:
        await vectors.delete_chunks(conn, None)
        await conn.execute(sa.delete(schema.kb_documents))
        await conn.execute(sa.delete(schema.kb_sources))

    async def stale_models(self, conn: AsyncConnection) -> list[tuple[str, int]]:
        """(model, dimension) pairs in the index that the current embedder did not make."""
        table = schema.kb_chunks
        query = sa.select(table.c.model, table.c.dimension).distinct()
        pairs = [(str(model), int(dimension)) for model, dimension in await conn.execute(query)]
        current = (self.model_label, self._embedder.dimension)
        return [pair for pair in pairs if pair != current]


async def _upsert_source(conn: AsyncConnection, event: RecordedEvent) -> None:
    payload, table = event.payload, schema.kb_sources
    values = {
        "name": payload["name"],
        "root": payload["root"],
        "license": payload["license"],
        "registered_at": _moment(event),
    }
    await update_or_insert(conn, table, {"source_id": payload["source_id"]}, values)


async def _remove_document(conn: AsyncConnection, document_id: str) -> None:
    await vectors.delete_chunks(conn, document_id)
    table = schema.kb_documents
    await conn.execute(sa.delete(table).where(table.c.document_id == document_id))


def _moment(event: RecordedEvent) -> datetime:
    return event.recorded_at


def _search_text(path: str, chunk: dict[str, Any]) -> str:
    return search_text(path, chunk["locator"], chunk["kind"], chunk["text"])
