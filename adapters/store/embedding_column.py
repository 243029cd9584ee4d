"""The width of the knowledge index's embedding column on PostgreSQL.

Migration 0003 creates `kb_chunks.embedding` as pgvector `vector(384)`, all-MiniLM-L6-v2's size.
An embedder of another size (BUDDY_EMBEDDER) needs another width: the column is retyped while
the index is rebuilt, in the transaction that empties the table, so PostgreSQL has no row to
convert and rebuilds the HNSW index for the new width itself. SQLite stores blobs of any size."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.errors import ConfigurationError

MAX_INDEXED_DIMENSION = 2000  # pgvector's HNSW index takes `vector` columns up to this width


async def embedding_width(conn: AsyncConnection) -> int | None:
    """The n of `vector(n)` on PostgreSQL; None on SQLite (or an untyped column)."""
    if conn.dialect.name != "postgresql":
        return None
    result = await conn.execute(
        sa.text(
            "SELECT atttypmod FROM pg_attribute WHERE attrelid = 'kb_chunks'::regclass "
            "AND attname = 'embedding' AND NOT attisdropped"
        )
    )
    width = result.scalar_one_or_none()
    return int(width) if width is not None and int(width) > 0 else None


def check_indexable(dimension: int) -> None:
    """A ConfigurationError unless PostgreSQL's HNSW index can hold vectors of `dimension`."""
    if not 0 < dimension <= MAX_INDEXED_DIMENSION:
        raise ConfigurationError(
            f"the embedding model makes {dimension}-dimensional vectors; the PostgreSQL index "
            f"(pgvector HNSW) holds at most {MAX_INDEXED_DIMENSION}: choose a smaller model, "
            "or use SQLite"
        )


async def set_embedding_width(conn: AsyncConnection, dimension: int) -> None:
    """Retype the (empty) column as `vector(dimension)`; nothing to do on SQLite."""
    if conn.dialect.name != "postgresql":
        return
    check_indexable(dimension)
    await conn.execute(
        sa.text(f"ALTER TABLE kb_chunks ALTER COLUMN embedding TYPE vector({int(dimension)})")
    )
