"""Ingestion and hybrid search through the same contract on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib

import pytest
import sqlalchemy as sa

from adapters.privacy.scrubber import PatternScrubber
from adapters.store import schema
from adapters.store.database import Database
from adapters.store.event_store import SqlEventStore
from adapters.store.projections import ProjectionRunner
from adapters.vector.catalog import SqlDocumentCatalog
from adapters.vector.index_projection import KnowledgeIndexProjection
from adapters.vector.knowledge_index import SqlKnowledgeIndex
from domain.ingestion import IngestionService, IngestReport, SourceFile, SourceSnapshot
from tests.fakes import HashingEmbedder

DOCS = {
    "deploy.md": "# Deploy\n\nRun make deploy ENV=production to ship a release tag.\n\n"
    "## Rollback\n\nRun make rollback to redeploy the previous release.\n",
    "keys.md": "# API keys\n\nRotate API keys every 90 days in the secrets manager.\n"
    "Contact ops@example.com for help.\n",
    "retry.py": 'def retry(call):\n    """Retry a flaky call with exponential backoff."""\n'
    "    return call()\n",
    "oncall.txt": "The on-call engineer carries the pager for one week.\n",
}


def snapshot(files: dict[str, str]) -> SourceSnapshot:
    return SourceSnapshot(
        name="team-docs",
        root="/srv/team-docs",
        license="Apache-2.0",
        files=[
            SourceFile(path, text, hashlib.sha256(text.encode()).hexdigest())
            for path, text in files.items()
        ],
    )


class Knowledge:
    def __init__(self, db: Database, store: SqlEventStore, embedder: HashingEmbedder) -> None:
        self.db = db
        self.runner = ProjectionRunner(db, store)
        self.projection = KnowledgeIndexProjection(embedder)
        self.service = IngestionService(store, SqlDocumentCatalog(db), PatternScrubber())
        self.index = SqlKnowledgeIndex(db, embedder)

    async def ingest(self, files: dict[str, str]) -> IngestReport:
        await self.runner.catch_up(self.projection)
        report = IngestReport()
        await self.service.ingest(snapshot(files), report, lambda _: None)
        await self.runner.catch_up(self.projection)
        return report

    async def chunk_rows(self) -> list[tuple[object, ...]]:
        table = schema.kb_chunks
        async with self.db.read() as conn:
            rows = await conn.execute(
                sa.select(table.c.chunk_id, table.c.path, table.c.text, table.c.model).order_by(
                    table.c.chunk_id
                )
            )
            return [tuple(row) for row in rows]


@pytest.fixture
def knowledge(db: Database, store: SqlEventStore) -> Knowledge:
    return Knowledge(db, store, HashingEmbedder())


@pytest.mark.parametrize("mode", ["hybrid", "dense", "text"])
async def test_search_finds_the_passage_that_answers(knowledge: Knowledge, mode: str) -> None:
    await knowledge.ingest(DOCS)
    hits = await knowledge.index.search("how do I rollback a release", k=3, mode=mode)
    assert hits, "nothing found"
    assert hits[0].source == "team-docs/deploy.md"
    assert "rollback" in hits[0].text.lower()
    assert hits[0].license == "Apache-2.0"
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


async def test_chunk_text_is_scrubbed_before_it_is_stored(knowledge: Knowledge) -> None:
    await knowledge.ingest(DOCS)
    texts = " ".join(str(row[2]) for row in await knowledge.chunk_rows())
    assert "ops@example.com" not in texts
    assert "<EMAIL>" in texts


async def test_incremental_reingest_changes_deletes_and_renames(knowledge: Knowledge) -> None:
    first = await knowledge.ingest(DOCS)
    assert first.as_json()["documents"] == {"added": 4, "changed": 0, "unchanged": 0, "removed": 0}
    again = await knowledge.ingest(DOCS)
    assert again.as_json()["documents"] == {"added": 0, "changed": 0, "unchanged": 4, "removed": 0}

    edited = dict(DOCS)
    edited["oncall.txt"] = "The on-call engineer now carries the pager for two weeks.\n"
    del edited["keys.md"]
    edited["scripts/retry_helpers.py"] = edited.pop("retry.py")  # a rename
    report = await knowledge.ingest(edited)
    assert report.as_json()["documents"] == {"added": 1, "changed": 1, "unchanged": 1, "removed": 2}

    paths = {row[1] for row in await knowledge.chunk_rows()}
    assert paths == {
        "team-docs/deploy.md",
        "team-docs/oncall.txt",
        "team-docs/scripts/retry_helpers.py",
    }
    hits = await knowledge.index.search("how long is the pager shift", k=1)
    assert "two weeks" in hits[0].text


async def test_the_index_rebuilt_from_events_equals_the_live_one(knowledge: Knowledge) -> None:
    await knowledge.ingest(DOCS)
    changed = {**DOCS, "oncall.txt": "Pager rotation is weekly.\n"}
    del changed["keys.md"]
    await knowledge.ingest(changed)
    live_rows = await knowledge.chunk_rows()
    live_hits = await knowledge.index.search("release rollback", k=5)

    await knowledge.runner.rebuild(knowledge.projection)

    assert await knowledge.chunk_rows() == live_rows
    rebuilt_hits = await knowledge.index.search("release rollback", k=5)
    assert [h.chunk_id for h in rebuilt_hits] == [h.chunk_id for h in live_hits]


async def test_a_model_change_is_detected_and_re_embeds(db: Database, store: SqlEventStore) -> None:
    old = Knowledge(db, store, HashingEmbedder("test/old-model"))
    await old.ingest(DOCS)
    new = Knowledge(db, store, HashingEmbedder("test/new-model"))
    async with db.read() as conn:
        assert await new.projection.stale_models(conn) == [(old.projection.model_label, 384)]
    await new.runner.rebuild(new.projection)
    async with db.read() as conn:
        assert await new.projection.stale_models(conn) == []
    # The label names the embedder and the search-text recipe: either changing re-embeds.
    assert {row[3] for row in await new.chunk_rows()} == {"test/new-model text-v2"}


async def test_sources_list_license_and_content_hash(knowledge: Knowledge, db: Database) -> None:
    await knowledge.ingest(DOCS)
    [source] = await SqlDocumentCatalog(db).sources()
    assert source["name"] == "team-docs"
    assert source["license"] == "Apache-2.0"
    assert source["documents"] == 4
    assert len(source["content_hash"]) == 64
