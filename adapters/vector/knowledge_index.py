"""Hybrid search: dense (pgvector HNSW, or an exact numpy scan on SQLite) and full text,
fused by reciprocal rank; both sides of a scoped search (a channel's sources) keep to the scope
(adapters/vector/vectors.py)."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Collection, Sequence
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.store import schema
from adapters.store.database import Database
from adapters.vector import vectors
from adapters.vector.index_projection import ArrayEmbedder
from domain.grounding.terms import TermStats
from domain.retrieval import SearchHit, reciprocal_rank_fusion, text_boosted_fusion

log = logging.getLogger(__name__)

MODES = ("hybrid", "dense", "text", "rrf")


class SqlKnowledgeIndex:
    def __init__(
        self,
        db: Database,
        embedder: ArrayEmbedder,
        *,
        candidates: int = 50,
        weights: tuple[float, float] = (2.0, 1.0),
        boost: float = 0.05,
    ) -> None:
        self._db = db
        self._embedder = embedder
        self._candidates = candidates
        self._weights = weights
        self._boost = boost
        self._matrix: tuple[tuple[int, int], list[str], Any, Any] | None = None
        self._logged_backend = False

    async def search(
        self, query: str, k: int = 5, mode: str = "hybrid", *,
        sources: Collection[str] | None = None,
    ) -> list[SearchHit]:  # fmt: skip
        """The best k chunks; with `sources`, of those source ids alone (None: every one)."""
        if mode not in MODES:
            raise ValueError(f"unknown search mode {mode!r}")
        scope = None if sources is None else frozenset(sources)
        query_vector = None
        if mode != "text":
            query_vector = (await self._embedder.embed_array([query]))[0]
        async with self._db.read() as conn:
            dense = await self._dense(conn, query_vector, scope) if query_vector is not None else []
            text = (
                await vectors.text_ranking(conn, query, self._candidates, scope)
                if mode != "dense"
                else []
            )
            similarity = dict(dense)
            if mode == "dense":
                fused = [(chunk_id, score) for chunk_id, score in dense]
            elif mode == "text":
                fused = reciprocal_rank_fusion([text])
            elif mode == "rrf":
                fused = reciprocal_rank_fusion(
                    [[chunk_id for chunk_id, _ in dense], text], weights=self._weights
                )
            else:
                fused = text_boosted_fusion(dense, text, boost=self._boost)
            top = fused[:k]
            rows = await _chunk_rows(conn, [chunk_id for chunk_id, _ in top])
        return [
            _hit(rows[chunk_id], score, similarity.get(chunk_id))
            for chunk_id, score in top
            if chunk_id in rows
        ]

    async def chunks(self, chunk_ids: Sequence[str]) -> list[SearchHit]:
        """The chunks with these ids, in that order (unknown ids left out)."""
        async with self._db.read() as conn:
            rows = await _chunk_rows(conn, chunk_ids)
        return [_hit(rows[i], 0.0, None) for i in chunk_ids if i in rows]

    async def term_stats(self, terms: Sequence[str]) -> TermStats:
        async with self._db.read() as conn:
            chunks, frequencies = await vectors.term_counts(conn, list(terms))
        return TermStats(chunks, frequencies)

    def sqlite_backend(self) -> str:
        if self._db.sqlite_extensions.get("sqlite_vec"):
            return "sqlite-vec (exact cosine inside SQLite)"
        if not hasattr(sqlite3.Connection, "enable_load_extension"):
            return "exact numpy scan (this Python cannot load SQLite extensions, so no sqlite-vec)"
        return "exact numpy scan (sqlite-vec is not installed: pip install sqlite-vec)"

    async def _dense(
        self, conn: AsyncConnection, query_vector: Any, sources: frozenset[str] | None
    ) -> list[tuple[str, float]]:
        if self._db.is_sqlite and not self._logged_backend:
            self._logged_backend = True
            log.info("vector search on SQLite: %s", self.sqlite_backend())
        limit = self._candidates
        if not self._db.is_sqlite:
            return await vectors.dense_ranking_postgres(conn, query_vector, limit, sources)
        if self._db.sqlite_extensions.get("sqlite_vec"):
            return await vectors.dense_ranking_sqlite_vec(conn, query_vector, limit, sources)
        generation = await vectors.index_generation(conn)
        if self._matrix is None or self._matrix[0] != generation:
            loaded, source_ids, embeddings = await vectors.load_sqlite_matrix(conn)
            self._matrix = (generation, loaded, np.asarray(source_ids, dtype=str), embeddings)
        _, ids, owners, matrix = self._matrix
        if not ids:
            return []
        scores = matrix @ np.asarray(query_vector, dtype=np.float32)
        if sources is not None:  # the exact scan of the scope's rows alone
            rows = np.flatnonzero(np.isin(owners, list(sources)))
            best = rows[np.argsort(-scores[rows], kind="stable")[:limit]]
        else:
            best = np.argsort(-scores)[:limit]
        return [(ids[i], float(scores[i])) for i in best]


async def _chunk_rows(conn: AsyncConnection, chunk_ids: Sequence[str]) -> dict[str, Any]:
    if not chunk_ids:
        return {}
    chunks, sources = schema.kb_chunks, schema.kb_sources
    query = (
        sa.select(chunks, sources.c.license)
        .join(sources, sources.c.source_id == chunks.c.source_id, isouter=True)
        .where(chunks.c.chunk_id.in_(list(chunk_ids)))
    )
    return {row["chunk_id"]: row for row in (await conn.execute(query)).mappings()}


def _hit(row: Any, score: float, similarity: float | None) -> SearchHit:
    return SearchHit(
        chunk_id=row["chunk_id"],
        source=row["path"],
        locator=row["locator"],
        start_line=row["start_line"],
        end_line=row["end_line"],
        text=row["text"],
        license=row["license"] or "unknown",
        score=score,
        dense_score=similarity,
        kind=row["kind"],
    )
