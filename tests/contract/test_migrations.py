"""Alembic owns the schema: it builds an empty database and takes it down again cleanly."""

from __future__ import annotations

import sqlalchemy as sa

from adapters.store import migrate
from adapters.store.database import Database, create_database

TABLES = {
    "events", "tracking", "inbox", "outbox", "event_type_counts", "user_keys",
    "privacy_settings", "consent", "kb_sources", "kb_documents", "kb_chunks",
    "conversations", "votes", "platform_messages", "adapter_blobs",
}  # fmt: skip


async def table_names(db: Database) -> set[str]:
    async with db.engine.connect() as conn:
        names = await conn.run_sync(lambda sync: sa.inspect(sync).get_table_names())
    # FTS5 keeps its index in shadow tables named after the virtual table.
    return {name for name in names if not name.startswith("kb_chunks_fts")} - {"alembic_version"}


async def test_upgrade_an_empty_database_then_downgrade_cleanly(database_url: str) -> None:
    db = create_database(database_url)
    try:
        assert await table_names(db) == set()
        assert await migrate.current_revision(db) is None

        await migrate.upgrade(db)
        assert await table_names(db) == TABLES
        assert await migrate.current_revision(db) == migrate.head_revision()

        await migrate.downgrade(db, "base")
        assert await table_names(db) == set()
        assert await migrate.current_revision(db) is None

        await migrate.upgrade(db)  # and back up again, as a fresh install would
        assert await table_names(db) == TABLES
    finally:
        await db.dispose()


async def test_upgrade_twice_concurrently_is_safe(database_url: str) -> None:
    first, second = create_database(database_url), create_database(database_url)
    try:
        import asyncio

        await asyncio.gather(migrate.upgrade(first), migrate.upgrade(second))
        assert await table_names(first) == TABLES
    finally:
        await first.dispose()
        await second.dispose()
