"""Trained adapters' files in the database, by sha256 (see domain.ports.AdapterBlobs).

A file is split into chunks of a few MiB (one row each, so no single value nears a driver's or
SQLite's limit) and written in one transaction: readers see all of it or none. Content-addressed,
so storing the same file twice, from two replicas at once, is harmless."""

from __future__ import annotations

import sqlalchemy as sa

from adapters.store import schema
from adapters.store.clock import SystemClock
from adapters.store.database import Database
from domain.ports import Clock

table = schema.adapter_blobs
CHUNK_BYTES = 4 << 20


class SqlAdapterBlobs:
    def __init__(
        self, db: Database, *, chunk_bytes: int = CHUNK_BYTES, clock: Clock | None = None
    ) -> None:
        self._db = db
        self._chunk = max(1, chunk_bytes)
        self._clock = clock or SystemClock()

    async def put(self, sha256: str, data: bytes) -> None:
        chunks = [data[i : i + self._chunk] for i in range(0, len(data), self._chunk)] or [b""]
        async with self._db.write() as conn:
            await self._db.advisory_lock(conn, f"adapter-blob:{sha256}")
            held = await conn.execute(
                sa.select(sa.func.count(), sa.func.min(table.c.chunks), sa.func.min(table.c.size))
                .where(table.c.sha256 == sha256)
            )  # fmt: skip
            count, expected, size = held.one()
            if count and count == expected == len(chunks) and size == len(data):
                return  # already stored whole
            await conn.execute(sa.delete(table).where(table.c.sha256 == sha256))
            now = self._clock.now()
            await conn.execute(sa.insert(table), [
                {"sha256": sha256, "chunk": index, "chunks": len(chunks), "size": len(data),
                 "data": chunk, "stored_at": now}
                for index, chunk in enumerate(chunks)
            ])  # fmt: skip

    async def get(self, sha256: str) -> bytes | None:
        query = (
            sa.select(table.c.chunks, table.c.size, table.c.data)
            .where(table.c.sha256 == sha256)
            .order_by(table.c.chunk)
        )
        async with self._db.read() as conn:
            rows = (await conn.execute(query)).all()
        if not rows or len(rows) != rows[0].chunks:
            return None
        data = b"".join(bytes(row.data) for row in rows)
        return data if len(data) == rows[0].size else None
