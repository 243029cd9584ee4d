"""What the cold start reads, on SQLite and PostgreSQL: knowledge chunks spread across sources
and documents, and the stored synthetic pairs with whether their chunk is still there."""

from __future__ import annotations

import hashlib

from adapters.privacy.pseudonyms import HmacPseudonymizer
from adapters.privacy.scrubber import PatternScrubber
from adapters.privacy.sealer import AesGcmSealer
from adapters.store.curation_source import SqlCurationSource
from adapters.store.database import Database
from adapters.store.event_store import SqlEventStore
from adapters.store.projections import ProjectionRunner
from adapters.vector.catalog import SqlDocumentCatalog
from adapters.vector.chunk_source import SqlChunkSource
from adapters.vector.index_projection import KnowledgeIndexProjection
from domain.curation import CurateDataset
from domain.events import NO_STREAM, NewEvent
from domain.ingestion import IngestionService, IngestReport, SourceFile, SourceSnapshot
from domain.privacy_service import PrivacyService
from domain.synthetic_pairs import SYNTHETIC_EVENT, SyntheticPair
from tests.fakes import FixedClock, HashingEmbedder, InMemoryKeyVault

LONG = "Rotate the key in the secrets manager, then restart the service so it reads the new one. "


def doc(topic: str, sections: int) -> str:
    """A markdown document of `sections` sections, each a chunk of about 300 characters."""
    parts = [f"# {topic}\n"]
    parts += [f"## {topic} step {i}\n\n{topic} step {i}: {LONG * 3}\n" for i in range(sections)]
    return "\n".join(parts)


def snapshot(name: str, license_id: str, files: dict[str, str]) -> SourceSnapshot:
    return SourceSnapshot(
        name=name, root=f"/srv/{name}", license=license_id,
        files=[SourceFile(p, t, hashlib.sha256(t.encode()).hexdigest()) for p, t in files.items()],
    )  # fmt: skip


async def ingest(db: Database, store: SqlEventStore, *snapshots: SourceSnapshot) -> None:
    runner, projection = ProjectionRunner(db, store), KnowledgeIndexProjection(HashingEmbedder())
    service = IngestionService(store, SqlDocumentCatalog(db), PatternScrubber(), max_chars=400)
    for found in snapshots:
        await runner.catch_up(projection)
        await service.ingest(found, IngestReport(), lambda _: None)
    await runner.catch_up(projection)


async def test_chunks_are_chosen_across_sources_and_documents(
    db: Database, store: SqlEventStore
) -> None:
    source = SqlChunkSource(db)
    assert await source.count_chunks() == 0
    assert await source.sample_chunks(3) == []
    await ingest(
        db, store,
        snapshot("docs", "MIT", {"a.md": doc("Alpha", 3), "b.md": doc("Beta", 3)}),
        snapshot("wiki", "Apache-2.0", {"c.md": doc("Gamma", 3), "d.md": "# Tiny\n\nOne line.\n"}),
    )  # fmt: skip

    chosen = await source.sample_chunks(6, min_chars=200)

    assert len(chosen) == 6
    assert all(len(chunk.text) >= 200 for chunk in chosen)  # d.md's tiny chunk is left out
    assert await source.count_chunks() == 10
    topics = [chunk.source.split("/", 1)[1][0] for chunk in chosen]
    # The two sources take turns; within "docs", a.md and b.md take turns.
    assert topics[0::2] == ["c"] * 3 or topics[1::2] == ["c"] * 3
    assert [t for t in topics if t != "c"] == ["a", "b", "a"]
    assert {c.license for c in chosen if c.source.startswith("wiki/")} == {"Apache-2.0"}
    assert {c.license for c in chosen if c.source.startswith("docs/")} == {"MIT"}
    assert all(c.start_line >= 1 and c.end_line >= c.start_line for c in chosen)
    assert await source.sample_chunks(6, min_chars=200) == chosen  # deterministic
    skipped = await source.sample_chunks(6, min_chars=200, skip={chosen[0].chunk_id})
    assert skipped[:5] == chosen[1:]
    assert await source.sample_chunks(3, min_chars=100_000) == []


async def test_the_curator_reads_synthetic_pairs_and_leaves_stale_ones_out(
    db: Database, store: SqlEventStore
) -> None:
    await ingest(db, store, snapshot("docs", "MIT", {"keys.md": doc("Keys", 1)}))
    [chunk] = await SqlChunkSource(db).sample_chunks(5, min_chars=200)
    answer = "Rotate it in the secrets manager and restart the service afterwards [1]."
    current = SyntheticPair(chunk.chunk_id, chunk.source, "How do I rotate a key?", answer,
                            "scripted:1", (chunk.start_line, chunk.end_line), chunk.license,
                            "question-v1+answer-v2")  # fmt: skip
    gone = SyntheticPair(
        "gone", "docs/old.md", "Where is the old wiki page?", answer + " Old.", None
    )
    for pair in (current, gone):
        event = NewEvent(SYNTHETIC_EVENT, pair.payload())
        await store.append(f"synthetic-{pair.chunk_id}", NO_STREAM, [event])
    source = SqlCurationSource(db, store, ProjectionRunner(db, store))

    pairs = await source.synthetic_pairs()

    # The pair comes back with its chunk laid out as the answer prompt showed it.
    passage = f"[1] {chunk.source}\n{chunk.text}"
    assert pairs == [
        SyntheticPair(**{**current.__dict__, "passages": passage}),
        SyntheticPair(**{**gone.__dict__, "current": False}),
    ]
    keys = InMemoryKeyVault()
    privacy = PrivacyService(store, PatternScrubber(), HmacPseudonymizer(b"p" * 32),
                             AesGcmSealer(keys), keys, FixedClock())  # fmt: skip
    dataset = await CurateDataset(source, privacy, HashingEmbedder(), store)()
    [example] = dataset.train
    assert example["meta"]["synthetic"] is True
    assert example["meta"]["chunk_id"] == chunk.chunk_id
    assert example["meta"]["passages"] == passage  # training renders the served prompt
    assert (dataset.eval, dataset.size, dataset.synthetic) == ([], 0, 1)
    assert dataset.dropped == {"synthetic_stale": 1}
