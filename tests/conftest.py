"""Shared fixtures: one embedded PostgreSQL per test session, a fresh database per test, and the
same store built on SQLite and on PostgreSQL for the contract tests."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest

from adapters.store import migrate
from adapters.store.database import Database, create_database
from adapters.store.embedded_postgres import EmbeddedPostgres
from adapters.store.event_store import SqlEventStore

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def embedded_pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    server = EmbeddedPostgres(tmp_path_factory.mktemp("embedded-pg"))
    server.acquire()
    yield server
    server.release()


def _admin_conninfo(server: EmbeddedPostgres) -> str:
    return f"postgresql://postgres@/postgres?host={server.socket_dir}"


@pytest.fixture
def pg_url(embedded_pg: EmbeddedPostgres) -> Iterator[str]:
    """A fresh, empty PostgreSQL database on the session's embedded server."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_admin_conninfo(embedded_pg), autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    yield f"postgresql+psycopg://postgres@/{name}?host={embedded_pg.socket_dir}"
    with psycopg.connect(_admin_conninfo(embedded_pg), autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'buddy.db'}"


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest) -> str:
    fixture = "sqlite_url" if request.param == "sqlite" else "pg_url"
    url: str = request.getfixturevalue(fixture)
    return url


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = create_database(database_url, pool_size=60)
    await migrate.upgrade(database)
    yield database
    await database.dispose()


@pytest.fixture
def store(db: Database) -> SqlEventStore:
    return SqlEventStore(db)


@pytest.fixture
def project_root() -> Path:
    return Path(__file__).resolve().parent.parent


@pytest.fixture
def clean_env(tmp_path: Path) -> dict[str, str]:
    """An environment for running `buddy` as a subprocess against a private data dir."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BUDDY_", "DATABASE_URL"))}
    env["BUDDY_DATA_DIR"] = str(tmp_path / "data")
    return env


# The real embedded base (Gemma 3 270M), shared by the trainer, adapter and CLI tests.
# `gemma_gguf` is the served GGUF, assembled once per test session. `gemma_hf_base` is the same
# model de-quantised to Hugging Face safetensors (what the trainer fine-tunes): about 100 s the
# first time on two CPU cores, so it is built once per session. Set BUDDY_TEST_HF_CACHE to a
# directory to keep it between sessions; the cache is keyed by the GGUF's name and size.
@pytest.fixture(scope="session")
def gemma_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from adapters.llm.llamacpp_model import assemble_model

    return assemble_model(tmp_path_factory.mktemp("gemma-gguf"))


@pytest.fixture(scope="session")
def gemma_hf_base(gemma_gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from training.base_weights import dequantised_base

    configured = os.environ.get("BUDDY_TEST_HF_CACHE")
    cache = Path(configured) if configured else tmp_path_factory.mktemp("gemma-hf")
    return dequantised_base(gemma_gguf, cache)
