"""Dialect-specific writes and reads of embeddings and full text for the chunk table.

Every read takes `sources`: None searches every chunk, a collection of source ids (a channel's
scope) only theirs. On PostgreSQL the scope filters inside the HNSW scan: pgvector's iterative
index scan goes on reading the graph until it has found `limit` chunks of the scope (or read
`MAX_SCAN_TUPLES`), so a scope of a few percent of the index still gets its full `limit`. A
scope too small for that is ranked exactly instead (a scan of its rows)."""

from __future__ import annotations

import re
from collections.abc import Collection
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
# pgvector's iterative HNSW scan (0.8+) under a scope: at most this many index tuples read for
# one query (pgvector's own default). A scope expected to need more (limit / its share of the
# index, with a margin) is ranked by an exact scan of its rows instead.
MAX_SCAN_TUPLES = 20_000
SCAN_MARGIN = 2.0
# A scoped query's rows at least, of which the best `limit` are kept: the relaxed order's first
# finds are nearly, not quite, the nearest. On the graph migration 0009 builds, 10 rows give
# recall@10 0.97 on `buddy bench vectors --scoped` (the default graph needed 25 for 0.96).
SCOPED_MIN_FETCH = 10
Sources = Collection[str] | None


def _scoped(statement: str) -> sa.TextClause:
    """A statement with `IN :sources` taking a list (expanded into one parameter per id)."""
    return sa.text(statement).bindparams(sa.bindparam("sources", expanding=True))


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


async def text_ranking(
    conn: AsyncConnection, query: str, limit: int, sources: Sources = None
) -> list[str]:
    words = query_words(query)
    if not words or (sources is not None and not sources):
        return []
    params: dict[str, Any] = {"limit": limit}
    if sources is not None:
        params["sources"] = sorted(set(sources))
    if is_postgres(conn):
        scope = "" if sources is None else "AND source_id IN :sources "
        statement = (_scoped if sources is not None else sa.text)(
            "SELECT chunk_id FROM kb_chunks, to_tsquery('english', :query) AS q "
            f"WHERE text_search @@ q {scope}"
            "ORDER BY ts_rank_cd(text_search, q) DESC, chunk_id LIMIT :limit"
        )
        result = await conn.execute(statement, {**params, "query": " | ".join(words)})
    else:
        match = " OR ".join(f'"{word}"' for word in words)
        if sources is None:
            statement = sa.text(
                "SELECT chunk_id FROM kb_chunks_fts WHERE kb_chunks_fts MATCH :match "
                "ORDER BY bm25(kb_chunks_fts), chunk_id LIMIT :limit"
            )
        else:
            statement = _scoped(
                "SELECT kb_chunks_fts.chunk_id FROM kb_chunks_fts "
                "JOIN kb_chunks ON kb_chunks.chunk_id = kb_chunks_fts.chunk_id "
                "WHERE kb_chunks_fts MATCH :match AND kb_chunks.source_id IN :sources "
                "ORDER BY bm25(kb_chunks_fts), kb_chunks_fts.chunk_id LIMIT :limit"
            )
        result = await conn.execute(statement, {**params, "match": match})
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


_DENSE = (
    "SELECT chunk_id, 1 - (embedding <=> CAST(:q AS vector)) AS similarity FROM kb_chunks "
    "{where}ORDER BY {distance} LIMIT :limit"
)
_DISTANCE = "embedding <=> CAST(:q AS vector)"
SCOPED_DENSE = _DENSE.format(where="WHERE source_id IN :sources ", distance=_DISTANCE)
# The same ranking no index can serve (the order is by an expression over the distance): a
# scan of the table, whatever the settings, and another statement than SCOPED_DENSE for the
# driver's prepared-statement cache (a plan cached under one query's settings is reused).
EXACT_SCOPED_DENSE = _DENSE.format(
    where="WHERE source_id IN :sources ", distance=f"({_DISTANCE}) + 0"
)


async def dense_ranking_postgres(
    conn: AsyncConnection, query_vector: Any, limit: int, sources: Sources = None
) -> list[tuple[str, float]]:
    """The nearest chunks through the HNSW index; of `sources` alone when given."""
    params: dict[str, Any] = {"q": pg_vector(query_vector), "limit": limit}
    if sources is None:
        await conn.execute(sa.text(f"SET LOCAL hnsw.ef_search = {ef_search(limit)}"))
        result = await conn.execute(sa.text(_DENSE.format(where="", distance=_DISTANCE)), params)
        return [(str(chunk_id), float(similarity)) for chunk_id, similarity in result]
    params["sources"] = sorted(set(sources))
    if not params["sources"]:
        return []
    fetch = max(limit, SCOPED_MIN_FETCH)
    scoped, total = await set_up_scoped_scan(conn, params["sources"], fetch)
    if scoped == 0:
        found: list[tuple[str, float]] = []
    elif fetch * SCAN_MARGIN * total / scoped > MAX_SCAN_TUPLES:
        found = await exact_ranking_postgres(conn, query_vector, limit, params["sources"])
    else:
        found = await scoped_hnsw_ranking(conn, query_vector, fetch, params["sources"])
        if len(found) < min(limit, scoped):  # the scan stopped short: rank the scope exactly
            found = await exact_ranking_postgres(conn, query_vector, limit, params["sources"])
    await conn.execute(sa.text("SET LOCAL enable_seqscan = on"))
    return sorted(found, key=lambda pair: (-pair[1], pair[0]))[:limit]


def ef_search(limit: int) -> int:
    """HNSW's candidate list for a top-`limit` query (pgvector's default is 40)."""
    return max(40, 2 * limit)


async def scoped_hnsw_ranking(
    conn: AsyncConnection, query_vector: Any, limit: int, sources: Collection[str]
) -> list[tuple[str, float]]:
    """The scoped statement alone, through the index as set_up_scoped_scan set it up; the
    rows in the order the scan found them."""
    params = {"q": pg_vector(query_vector), "limit": limit, "sources": sorted(set(sources))}
    rows = await conn.execute(_scoped(SCOPED_DENSE), params)
    return [(str(chunk_id), float(similarity)) for chunk_id, similarity in rows]


async def set_up_scoped_scan(
    conn: AsyncConnection, sources: Collection[str], limit: int
) -> tuple[int, int]:
    """Set the HNSW scan up with the scope's filter inside it, in one round trip with the
    scope's size: how many chunks the sources hold, and the whole index (from the documents'
    counts, see SCAN_MARGIN).

    An iterative scan reads the index past ef_search until `limit` chunks of the scope are
    found (or MAX_SCAN_TUPLES were read). Relaxed order (rows may come slightly out of order)
    is pgvector's recommended mode for filtering; the rows are sorted again. The first rows of
    the scope it finds are not always the nearest: a query asks for SCOPED_MIN_FETCH at least
    and keeps the best. The planner, which knows nothing of a scope's size before ANALYZE,
    would sometimes rather scan the table: the share is judged here, so the index it is (the
    caller turns sequential scans back on)."""
    statement = _scoped(
        "SELECT coalesce(sum(CASE WHEN source_id IN :sources THEN chunk_count ELSE 0 END), 0),"
        " coalesce(sum(chunk_count), 0),"
        " set_config('hnsw.ef_search', :ef_search, true),"
        " set_config('hnsw.iterative_scan', 'relaxed_order', true),"
        " set_config('hnsw.max_scan_tuples', :max_scan_tuples, true),"
        " set_config('enable_seqscan', 'off', true)"
        " FROM kb_documents"
    )
    params = {"sources": sorted(set(sources)), "ef_search": str(ef_search(limit)),
              "max_scan_tuples": str(MAX_SCAN_TUPLES)}  # fmt: skip
    row = (await conn.execute(statement, params)).one()
    return int(row[0]), int(row[1])


async def explain_scoped_dense(
    conn: AsyncConnection, query_vector: Any, limit: int, sources: Collection[str], *,
    exact: bool = False,
) -> str:  # fmt: skip
    """PostgreSQL's plan for a scoped dense ranking, through the index or (`exact`) not."""
    if not exact:
        await set_up_scoped_scan(conn, sources, max(limit, SCOPED_MIN_FETCH))
    params = {"q": pg_vector(query_vector), "limit": limit, "sources": sorted(set(sources))}
    statement = EXACT_SCOPED_DENSE if exact else SCOPED_DENSE
    rows = await conn.execute(_scoped("EXPLAIN " + statement), params)
    await conn.execute(sa.text("SET LOCAL enable_seqscan = on"))
    return "\n".join(str(row[0]) for row in rows)


async def exact_ranking_postgres(
    conn: AsyncConnection, query_vector: Any, limit: int, sources: Collection[str]
) -> list[tuple[str, float]]:
    """The nearest chunks of `sources` by a scan of the table, not the index: exact."""
    params = {"q": pg_vector(query_vector), "limit": limit, "sources": sorted(set(sources))}
    result = await conn.execute(_scoped(EXACT_SCOPED_DENSE), params)
    return [(str(chunk_id), float(similarity)) for chunk_id, similarity in result]


async def load_sqlite_matrix(conn: AsyncConnection) -> tuple[list[str], list[str], Any]:
    """Every chunk's id, source id and embedding (a row of the matrix)."""
    statement = sa.text("SELECT chunk_id, source_id, embedding FROM kb_chunks")
    rows = (await conn.execute(statement)).all()
    ids = [str(chunk_id) for chunk_id, _, _ in rows]
    sources = [str(source_id) for _, source_id, _ in rows]
    if not rows:
        return ids, sources, np.zeros((0, 0), dtype=np.float32)
    matrix = np.vstack([np.frombuffer(blob, dtype=np.float32) for _, _, blob in rows])
    return ids, sources, matrix


async def index_generation(conn: AsyncConnection) -> tuple[int, int]:
    """Changes whenever chunks are added or removed (ids only grow), for caching the matrix."""
    row = (
        await conn.execute(sa.text("SELECT count(*), coalesce(max(rowid), 0) FROM kb_chunks"))
    ).one()
    return int(row[0]), int(row[1])


async def dense_ranking_sqlite_vec(
    conn: AsyncConnection, query_vector: Any, limit: int, sources: Sources = None
) -> list[tuple[str, float]]:
    """Exact cosine ranking computed inside SQLite by sqlite-vec (of `sources` alone)."""
    query = np.asarray(query_vector, dtype=np.float32).tobytes()
    params: dict[str, Any] = {"q": query, "limit": limit}
    if sources is not None:
        params["sources"] = sorted(set(sources))
        if not params["sources"]:
            return []
    where = "" if sources is None else "WHERE source_id IN :sources "
    statement = (_scoped if sources is not None else sa.text)(
        "SELECT chunk_id, 1 - vec_distance_cosine(embedding, :q) AS similarity FROM kb_chunks "
        f"{where}ORDER BY vec_distance_cosine(embedding, :q), chunk_id LIMIT :limit"
    )
    result = await conn.execute(statement, params)
    return [(str(chunk_id), float(similarity)) for chunk_id, similarity in result]
