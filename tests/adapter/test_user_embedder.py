"""BUDDY_EMBEDDER: a sentence-transformers directory instead of all-MiniLM-L6-v2, loaded offline.
A model of another name re-embeds the knowledge index; one of another size also gets
PostgreSQL's `vector(n)` column retyped to its width (SQLite stores vectors of any size)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa

from adapters.embeddings.local_model import LocalEmbedder
from adapters.embeddings.minilm import model_path
from adapters.files.source_reader import read_source
from adapters.store import schema
from adapters.store.embedding_column import embedding_width
from bot.bootstrap import Services, bootstrap, embedder_for
from bot.operations.index import refresh_index
from bot.settings import Settings
from domain.errors import ConfigurationError
from domain.ingestion import IngestReport
from tests.fakes import HashingEmbedder

DOCS = {
    "deploy.md": "# Deploy\n\nRun make deploy ENV=production to ship a release tag.\n\n"
    "## Rollback\n\nRun make rollback to redeploy the previous release.\n",
    "oncall.txt": "The on-call engineer carries the pager for one week.\n",
}


class SizedEmbedder(HashingEmbedder):
    """The hashing fake with vectors of another size."""

    def __init__(self, dimension: int) -> None:
        super().__init__(f"test/hashing-{dimension}")
        self.dimension = dimension


def settings(tmp_path: Path, database_url: str, **env: object) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None, BUDDY_DATA_DIR=tmp_path / "data", DATABASE_URL=database_url, **env
    )


@pytest.fixture
def kb(tmp_path: Path) -> Path:
    root = tmp_path / "kb"
    root.mkdir()
    for name, text in DOCS.items():
        (root / name).write_text(text)
    return root


@pytest.fixture(scope="module")
def team_embedder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The packaged MiniLM, copied where a team keeps its own model, under another name."""
    target = tmp_path_factory.mktemp("embedders") / "team-embedder"
    shutil.copytree(model_path(), target)
    return target


async def index_rows(services: Services) -> set[tuple[str, int]]:
    """(embedding model, dimension) over the index's rows; the model as the embedder names it
    (the index may add a suffix of its own, such as the search-text recipe)."""
    table = schema.kb_chunks
    async with services.db.read() as conn:
        rows = await conn.execute(sa.select(table.c.model, table.c.dimension).distinct())
        return {(str(model).split(" ")[0], int(dimension)) for model, dimension in rows}


async def ingest_with(services: Services, embedder: object, kb: Path) -> None:
    services.embedder = embedder  # type: ignore[assignment]  # before the index is built
    await services.ingestion().ingest(read_source(kb, name="kb"), IngestReport(), lambda _: None)
    await refresh_index(services)


def test_a_missing_or_wrong_embedder_directory_is_a_clear_error(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "model.safetensors"
    not_a_dir.write_bytes(b"weights")
    plain_dir = tmp_path / "no-modules"
    plain_dir.mkdir()
    (plain_dir / "config.json").write_text("{}")
    cases = {
        tmp_path / "nowhere": "does not exist",
        not_a_dir: "is not a directory",
        plain_dir: "is not a sentence-transformers model",
    }
    for path, reason in cases.items():
        with pytest.raises(ConfigurationError) as caught:
            embedder_for(settings(tmp_path, "sqlite+aiosqlite:///:memory:", BUDDY_EMBEDDER=path))
        message = str(caught.value)
        assert message.startswith("BUDDY_EMBEDDER: "), message
        assert str(path) in message, message
        assert reason in message, message


async def test_a_wrong_embedder_fails_before_the_database_starts(tmp_path: Path) -> None:
    configured = settings(tmp_path, "", BUDDY_EMBEDDER=tmp_path / "nowhere")  # the embedded PG
    with pytest.raises(ConfigurationError, match="BUDDY_EMBEDDER"):
        async with bootstrap(configured):
            pass
    assert not (tmp_path / "data" / "postgres").exists()


def test_a_broken_model_is_a_clear_error_when_it_loads(tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "modules.json").write_text("{not json")
    embedder = LocalEmbedder(broken)
    with pytest.raises(ConfigurationError, match=f"cannot load the embedding model at {broken}"):
        embedder.encode(["hello"])


async def test_a_team_embedder_loads_offline_and_re_embeds_the_index(
    tmp_path: Path, sqlite_url: str, kb: Path, team_embedder: Path
) -> None:
    before = settings(tmp_path, sqlite_url)
    async with bootstrap(before) as services:
        await ingest_with(services, HashingEmbedder("test/old-model"), kb)  # stands in for MiniLM
        assert await index_rows(services) == {("test/old-model", 384)}

    after = settings(tmp_path, sqlite_url, BUDDY_EMBEDDER=team_embedder)
    async with bootstrap(after) as services:
        embedder = services.embedder
        assert isinstance(embedder, LocalEmbedder)
        assert embedder.model_name == "team-embedder"
        assert embedder.dimension == 384  # read from the model
        assert os.environ["HF_HUB_OFFLINE"] == "1"
        await refresh_index(services)
        assert await index_rows(services) == {("team-embedder", 384)}  # every row re-embedded
        hits = await services.knowledge_index().search("how do I roll back a release?", k=1)
        assert hits[0].source == "kb/deploy.md"


async def test_an_embedder_of_another_size_rebuilds_the_index_at_that_width(
    tmp_path: Path, database_url: str, kb: Path
) -> None:
    postgres = database_url.startswith("postgresql")
    configured = settings(tmp_path, database_url)
    # The migration's vector(384) retyped to a smaller model's width, narrower again, and back.
    for dimension in (16, 8, 384):
        async with bootstrap(configured) as services:
            await ingest_with(services, SizedEmbedder(dimension), kb)
            assert await index_rows(services) == {(f"test/hashing-{dimension}", dimension)}
            async with services.db.read() as conn:
                assert await embedding_width(conn) == (dimension if postgres else None)
            hits = await services.knowledge_index().search("rollback release", k=2, mode="dense")
            assert len(hits) == 2  # ranked against vectors of the new width
            assert all(hit.dense_score is not None for hit in hits)

    if postgres:  # wider than pgvector's HNSW index takes: refused, and the index is kept
        async with bootstrap(configured) as services:
            with pytest.raises(ConfigurationError, match="at most 2000"):
                await ingest_with(services, SizedEmbedder(3000), kb)
            assert await index_rows(services) == {("test/hashing-384", 384)}
