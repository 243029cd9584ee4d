"""The composition root: builds the adapters from settings and hands out the ports."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from adapters.store import migrate
from adapters.store.database import Database, create_database
from adapters.store.embedded_postgres import EmbeddedPostgres
from adapters.store.event_store import SqlEventStore
from adapters.store.outbox import SqlOutbox
from adapters.store.projections import ProjectionRunner
from bot.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class Services:
    db: Database
    store: SqlEventStore
    outbox: SqlOutbox
    projections: ProjectionRunner
    database_label: str


@asynccontextmanager
async def database_url(settings: Settings) -> AsyncIterator[tuple[str, str]]:
    """The configured database, or the embedded PostgreSQL held for the duration."""
    if settings.database_url:
        _prepare_sqlite_dir(settings.database_url)
        yield settings.database_url, settings.database_url.split(":", 1)[0]
        return
    embedded = EmbeddedPostgres(settings.data_dir)
    url = await asyncio.to_thread(embedded.acquire)
    try:
        yield url, f"embedded PostgreSQL ({embedded.pgdata})"
    finally:
        await asyncio.to_thread(embedded.release)


@asynccontextmanager
async def bootstrap(settings: Settings, *, upgrade: bool = True) -> AsyncIterator[Services]:
    async with database_url(settings) as (url, label):
        db = create_database(url)
        try:
            if upgrade:
                await migrate.upgrade(db)
            store = SqlEventStore(db)
            yield Services(
                db=db,
                store=store,
                outbox=SqlOutbox(db),
                projections=ProjectionRunner(db, store),
                database_label=label,
            )
        finally:
            await db.dispose()


def _prepare_sqlite_dir(url: str) -> None:
    prefix = "sqlite+aiosqlite:///"
    if url.startswith(prefix) and ":memory:" not in url:
        Path(url[len(prefix) :]).expanduser().parent.mkdir(parents=True, exist_ok=True)
