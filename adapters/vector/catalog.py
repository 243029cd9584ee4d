"""What the knowledge index holds, for incremental ingestion and `buddy sources`."""

from __future__ import annotations

import hashlib
from typing import Any

import sqlalchemy as sa

from adapters.store import schema
from adapters.store.database import Database
from domain.ingestion import KnownSource


class SqlDocumentCatalog:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def source(self, source_id: str) -> KnownSource | None:
        table = schema.kb_sources
        query = sa.select(table.c.name, table.c.root, table.c.license).where(
            table.c.source_id == source_id
        )
        async with self._db.read() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else KnownSource(row.name, row.root, row.license)

    async def documents(self, source_id: str) -> dict[str, tuple[str, str]]:
        table = schema.kb_documents
        query = sa.select(table.c.path, table.c.document_id, table.c.content_hash).where(
            table.c.source_id == source_id
        )
        async with self._db.read() as conn:
            rows = (await conn.execute(query)).all()
        return {path: (document_id, content_hash) for path, document_id, content_hash in rows}

    async def sources(self) -> list[dict[str, Any]]:
        sources, documents = schema.kb_sources, schema.kb_documents
        async with self._db.read() as conn:
            source_rows = (
                (await conn.execute(sa.select(sources).order_by(sources.c.name))).mappings().all()
            )
            doc_rows = (
                await conn.execute(
                    sa.select(
                        documents.c.source_id, documents.c.content_hash, documents.c.chunk_count
                    ).order_by(documents.c.path)
                )
            ).all()
        listed = []
        for source in source_rows:
            mine = [row for row in doc_rows if row.source_id == source["source_id"]]
            content_hash = hashlib.sha256("".join(row.content_hash for row in mine).encode())
            listed.append(
                {
                    "name": source["name"],
                    "root": source["root"],
                    "license": source["license"],
                    "source_id": source["source_id"],
                    "documents": len(mine),
                    "chunks": sum(row.chunk_count for row in mine),
                    "content_hash": content_hash.hexdigest(),
                    "registered_at": source["registered_at"].isoformat(),
                }
            )
        return listed
