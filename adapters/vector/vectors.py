"""Dialect-specific writes and reads of embeddings and full text for the chunk table."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.store import schema

_WORD = re.compile(r"[A-Za-z0-9_]{2,}")
# Question words that match everything: an OR query over them ranks noise.
_STOPWORD_TEXT = (
    "a an and are as at be by can do does for from how i if in into is it its me my of on or "
    "should so than that the their then there these this to was we what when where which who "
    "why will with you your"
)
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())


def is_postgres(conn: AsyncConnection) -> bool:
    return conn.dialect.name == "postgresql"


def pg_vector(row: Any) -> str:
    return "[" + ",".join(f"{value:.7g}" for value in row) + "]"


async def insert_chunks(
    conn: AsyncConnection, rows: list[dict[str, Any]], embeddings: Any, searched: list[str]
) -> None:
    """Chunk rows with their embeddings; `searched` is what full text matches (the chunk text
    under its heading path or symbol), row by row."""
    matrix = np.asarray(embeddings, dtype=np.float32)
    columns = list(rows[0])
    if is_postgres(conn):
        statement = sa.text(
            f"INSERT INTO kb_chunks ({', '.join(columns)}, embedding, text_search) "
            f"VALUES ({', '.join(':' + c for c in columns)}, CAST(:embedding AS vector), "
            "to_tsvector('english', :searched))"
        )
        params = [
            {**row, "embedding": pg_vector(vector), "searched": text}
            for row, vector, text in zip(rows, matrix, searched, strict=True)
        ]
        await conn.execute(statement, params)
        return
    params = [
        {**row, "embedding": vector.tobytes()} for row, vector in zip(rows, matrix, strict=True)
    ]
    await conn.execute(
        sa.text(
            f"INSERT INTO kb_chunks ({', '.join(columns)}, embedding) "
            f"VALUES ({', '.join(':' + c for c in columns)}, :embedding)"
        ),
        params,
    )
    await conn.execute(
        sa.text("INSERT INTO kb_chunks_fts (chunk_id, text) VALUES (:chunk_id, :text)"),
        [
            {"chunk_id": row["chunk_id"], "text": text}
            for row, text in zip(rows, searched, strict=True)
        ],
    )


async def delete_chunks(conn: AsyncConnection, document_id: str | None) -> None:
    table = schema.kb_chunks
    if not is_postgres(conn):
        if document_id is None:
            await conn.execute(sa.text("DELETE FROM kb_chunks_fts"))
        else:
            await conn.execute(
                sa.text(
                    "DELETE FROM kb_chunks_fts WHERE chunk_id IN "
                    "(SELECT chunk_id FROM kb_chunks WHERE document_id = :document_id)"
                ),
                {"document_id": document_id},
            )
    condition = sa.true() if document_id is None else table.c.document_id == document_id
    await conn.execute(sa.delete(table).where(condition))


def query_words(query: str) -> list[str]:
    """Words of a natural-language question, for an OR query: a question rarely has every word
    of the passage that answers it."""
    seen: dict[str, None] = {}
    for word in _WORD.findall(query.lower()):
        if word not in _STOPWORDS:
            seen.setdefault(word, None)
    return list(seen)[:32]


async def text_ranking(conn: AsyncConnection, query: str, limit: int) -> list[str]:
    words = query_words(query)
    if not words:
        return []
    if is_postgres(conn):
        statement = sa.text(
            "SELECT chunk_id FROM kb_chunks, to_tsquery('english', :query) AS q "
            "WHERE text_search @@ q ORDER BY ts_rank_cd(text_search, q) DESC, chunk_id LIMIT :limit"
        )
        result = await conn.execute(statement, {"query": " | ".join(words), "limit": limit})
    else:
        match = " OR ".join(f'"{word}"' for word in words)
        statement = sa.text(
            "SELECT chunk_id FROM kb_chunks_fts WHERE kb_chunks_fts MATCH :match "
            "ORDER BY bm25(kb_chunks_fts), chunk_id LIMIT :limit"
        )
        result = await conn.execute(statement, {"match": match, "limit": limit})
    return [str(row[0]) for row in result]


async def term_counts(conn: AsyncConnection, terms: list[str]) -> tuple[int, dict[str, int]]:
    """The number of chunks, and how many of them the full-text index matches for each term."""
    total = int((await conn.execute(sa.text("SELECT count(*) FROM kb_chunks"))).scalar_one())
    counts: dict[str, int] = {}
    for term in dict.fromkeys(terms):
        if is_postgres(conn):
            statement = sa.text(
                "SELECT count(*) FROM kb_chunks "
                "WHERE text_search @@ plainto_tsquery('english', :term)"
            )
            params = {"term": term}
        else:
            statement = sa.text("SELECT count(*) FROM kb_chunks_fts WHERE kb_chunks_fts MATCH :m")
            params = {"m": '"' + term.replace('"', '""') + '"'}
        counts[term] = int((await conn.execute(statement, params)).scalar_one())
    return total, counts


async def dense_ranking_postgres(
    conn: AsyncConnection, query_vector: Any, limit: int
) -> list[tuple[str, float]]:
    await conn.execute(sa.text(f"SET LOCAL hnsw.ef_search = {max(40, 2 * limit)}"))
    statement = sa.text(
        "SELECT chunk_id, 1 - (embedding <=> CAST(:q AS vector)) AS similarity FROM kb_chunks "
        "ORDER BY embedding <=> CAST(:q AS vector) LIMIT :limit"
    )
    result = await conn.execute(statement, {"q": pg_vector(query_vector), "limit": limit})
    return [(str(chunk_id), float(similarity)) for chunk_id, similarity in result]


async def load_sqlite_matrix(conn: AsyncConnection) -> tuple[list[str], Any]:
    rows = (await conn.execute(sa.text("SELECT chunk_id, embedding FROM kb_chunks"))).all()
    ids = [str(chunk_id) for chunk_id, _ in rows]
    if not rows:
        return ids, np.zeros((0, 0), dtype=np.float32)
    matrix = np.vstack([np.frombuffer(blob, dtype=np.float32) for _, blob in rows])
    return ids, matrix


async def index_generation(conn: AsyncConnection) -> tuple[int, int]:
    """Changes whenever chunks are added or removed (ids only grow), for caching the matrix."""
    row = (
        await conn.execute(sa.text("SELECT count(*), coalesce(max(rowid), 0) FROM kb_chunks"))
    ).one()
    return int(row[0]), int(row[1])


async def dense_ranking_sqlite_vec(
    conn: AsyncConnection, query_vector: Any, limit: int
) -> list[tuple[str, float]]:
    """Exact cosine ranking computed inside SQLite by sqlite-vec."""
    statement = sa.text(
        "SELECT chunk_id, 1 - vec_distance_cosine(embedding, :q) AS similarity FROM kb_chunks "
        "ORDER BY vec_distance_cosine(embedding, :q), chunk_id LIMIT :limit"
    )
    query = np.asarray(query_vector, dtype=np.float32).tobytes()
    result = await conn.execute(statement, {"q": query, "limit": limit})
    return [(str(chunk_id), float(similarity)) for chunk_id, similarity in result]
