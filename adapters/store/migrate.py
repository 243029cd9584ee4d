"""Run the alembic migrations (the schema's only owner) on an open database."""

from __future__ import annotations

from importlib.resources import files
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from adapters.store.database import Database, translate_errors


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(files("migrations")))
    return config


async def upgrade(db: Database, revision: str = "head") -> None:
    await _run(db, lambda config: command.upgrade(config, revision))


async def downgrade(db: Database, revision: str = "base") -> None:
    await _run(db, lambda config: command.downgrade(config, revision))


async def current_revision(db: Database) -> str | None:
    async with translate_errors(), db.engine.connect() as conn:
        return await conn.run_sync(
            lambda sync: MigrationContext.configure(sync).get_current_revision()
        )


def head_revision() -> str | None:
    return ScriptDirectory.from_config(_config()).get_current_head()


async def _run(db: Database, action: Any) -> None:
    async with db.write() as conn:
        # Two processes starting on one database must not both create the tables.
        await db.advisory_lock(conn, "migrations")

        def run(sync_connection: sa.Connection) -> None:
            config = _config()
            config.attributes["connection"] = sync_connection
            action(config)

        await conn.run_sync(run)
