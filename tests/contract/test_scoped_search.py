"""A search scoped to some sources (a channel's scope) on SQLite and PostgreSQL: only the
scope's chunks come back, still k of them when the scope is 5% of the index, and on
PostgreSQL the filter runs inside the HNSW scan. An unscoped search ranks every source."""

from __future__ import annotations

import random
from collections.abc import Collection

import pytest

from adapters.store.database import Database
from adapters.store.event_store import SqlEventStore
from adapters.store.projections import ProjectionRunner
from adapters.vector import vectors
from adapters.vector.index_projection import KnowledgeIndexProjection
from adapters.vector.knowledge_index import SqlKnowledgeIndex
from domain.events import NewEvent
from domain.ingestion import digest
from tests.fakes import HashingEmbedder

TOPICS = [[f"topic{t}word{w}" for w in range(8)] for t in range(40)]
COMMON = [f"common{w}" for w in range(200)]
CHUNKS_PER_DOCUMENT = 50
# 19 documents of "big", one of "small" (5% of the chunks) and 4 chunks of "tiny".
LAYOUT = {"big": [CHUNKS_PER_DOCUMENT] * 19, "small": [CHUNKS_PER_DOCUMENT], "tiny": [4]}
QUERY = " ".join(TOPICS[3][:5] + COMMON[:12])
K = 10


def source_id(name: str) -> str:
    return digest("source", name)


async def build_index(db: Database, store: SqlEventStore) -> dict[str, set[str]]:
    """The layout's sources as ingestion events, projected into the index; each source's
    chunk ids."""
    rng = random.Random(17)
    owned: dict[str, set[str]] = {}
    for name, documents in LAYOUT.items():
        sid = source_id(name)
        registered = {"source_id": sid, "name": name, "root": f"/kb/{name}", "license": "MIT"}
        await store.append(
            f"source-{sid}", None, [NewEvent("knowledge.SourceRegistered", registered)]
        )
        for number, size in enumerate(documents):
            document_id = digest("document", sid, str(number))
            chunks = []
            for index in range(size):
                words = rng.sample(rng.choice(TOPICS), 6) + rng.sample(COMMON, 4)
                chunk_id = digest("chunk", document_id, str(index))
                owned.setdefault(name, set()).add(chunk_id)
                chunks.append({
                    "chunk_id": chunk_id, "text": " ".join(words), "locator": f"part {index}",
                    "start_line": index + 1, "end_line": index + 1, "kind": "prose",
                })  # fmt: skip
            payload = {"source_id": sid, "document_id": document_id,
                       "path": f"{name}/doc{number}.md", "content_hash": document_id,
                       "chunks": chunks}  # fmt: skip
            await store.append(
                f"document-{document_id}", None, [NewEvent("knowledge.DocumentIngested", payload)]
            )
    await ProjectionRunner(db, store).catch_up(KnowledgeIndexProjection(HashingEmbedder()))
    return owned


@pytest.fixture
async def owned(db: Database, store: SqlEventStore) -> dict[str, set[str]]:
    return await build_index(db, store)


@pytest.fixture
def index(db: Database) -> SqlKnowledgeIndex:
    return SqlKnowledgeIndex(db, HashingEmbedder())


async def test_a_scoped_search_returns_the_scopes_chunks_alone_and_k_of_them(
    db: Database, index: SqlKnowledgeIndex, owned: dict[str, set[str]]
) -> None:
    for mode in ("hybrid", "dense", "text"):
        hits = await index.search(QUERY, K, mode, sources=[source_id("small")])
        assert len(hits) == K, mode
        assert {hit.chunk_id for hit in hits} <= owned["small"], mode
        assert {hit.source.split("/")[0] for hit in hits} == {"small"}, mode

    # As good as an exact scan of the scope: SQLite's is one; pgvector's HNSW is approximate
    # and keeps its recall under the filter. (Hashed words tie a lot: compared by similarity.)
    dense = await index.search(QUERY, K, "dense", sources=[source_id("small")])
    exact = await exact_similarities(db, QUERY, K, [source_id("small")])
    found = [hit.dense_score or 0.0 for hit in dense]
    as_close = sum(similarity >= exact[-1] - 1e-6 for similarity in found)
    assert as_close == K if db.is_sqlite else as_close >= 0.8 * K
    assert max(found) == pytest.approx(exact[0])

    # A scope smaller than k: all of its chunks. No source, or an unknown one: nothing.
    for mode in ("dense", "hybrid"):
        hits = await index.search(QUERY, K, mode, sources=[source_id("tiny")])
        assert {hit.chunk_id for hit in hits} == owned["tiny"], mode
    assert await index.search(QUERY, K, sources=[]) == []
    assert await index.search(QUERY, K, sources=[source_id("nobody")]) == []


async def test_an_unscoped_search_ranks_every_source(
    index: SqlKnowledgeIndex, owned: dict[str, set[str]]
) -> None:
    for mode in ("hybrid", "dense", "text"):
        everything = await index.search(QUERY, 50, mode)
        assert len(everything) == 50, mode
        assert "big" in {hit.source.split("/")[0] for hit in everything}, mode
        assert {hit.chunk_id for hit in everything} <= set().union(*owned.values())
    both = await index.search(QUERY, 50, sources=[source_id("big"), source_id("small")])
    assert len(both) == 50
    assert {hit.source.split("/")[0] for hit in both} <= {"big", "small"}


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # PostgreSQL's plan
async def test_on_postgresql_the_filter_runs_inside_the_hnsw_scan(
    db: Database, owned: dict[str, set[str]]
) -> None:
    assert not db.is_sqlite
    vector = (await HashingEmbedder().embed_array([QUERY]))[0]
    async with db.read() as conn:
        plan = await vectors.explain_scoped_dense(conn, vector, 50, [source_id("small")])
        exact = await vectors.explain_scoped_dense(
            conn, vector, 50, [source_id("small")], exact=True
        )
        scoped = await vectors.dense_ranking_postgres(conn, vector, 50, [source_id("small")])
    assert "Index Scan using ix_kb_chunks_embedding" in plan, plan
    assert "Filter: ((source_id)" in plan, plan  # checked as the index is read
    assert "Seq Scan on kb_chunks" in exact, exact
    assert len(scoped) == 50  # ef_search (100) alone finds about 5 of them
    assert {chunk_id for chunk_id, _ in scoped} <= owned["small"]


async def exact_similarities(
    db: Database, query: str, k: int, sources: Collection[str]
) -> list[float]:
    """The k best similarities in the scope, by a scan of all of its rows."""
    vector = (await HashingEmbedder().embed_array([query]))[0]
    async with db.read() as conn:
        if db.is_sqlite:
            _, owners, matrix = await vectors.load_sqlite_matrix(conn)
            scores = [
                float(row @ vector) for row, owner in zip(matrix, owners, strict=True)
                if owner in sources
            ]  # fmt: skip
            return sorted(scores, reverse=True)[:k]
        ranked = await vectors.exact_ranking_postgres(conn, vector, k, sources)
        return [similarity for _, similarity in ranked]
