"""Async engines for SQLite (WAL) and PostgreSQL, and the translation of driver errors."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.util.concurrency import await_

from domain.errors import ConfigurationError, StoreUnavailable

log = logging.getLogger(__name__)

_SQLITE_BEGIN = "buddy_sqlite_begin"


class Database:
    """One engine plus the dialect-specific ways to read and to write."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        # SQLite has one writer at a time; queueing our own writers here is far cheaper than
        # letting them poll SQLite's busy handler. Other processes still wait on busy_timeout.
        self._sqlite_writers = asyncio.Lock()
        # Which SQLite extensions each new connection loaded (filled in on connect).
        self.sqlite_extensions: dict[str, bool] = {}

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @property
    def writers_queue_in_process(self) -> bool:
        """True where our own writers already wait their turn without touching the database."""
        return self.is_sqlite

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A transaction that holds the store's write lock until commit.

        SQLite: BEGIN IMMEDIATE takes the database write lock up front (no late upgrade, no
        SQLITE_BUSY deadlock). PostgreSQL: the caller locks the events table when it appends.
        """
        if not self.is_sqlite:
            async with translate_errors(), self.engine.connect() as conn, conn.begin():
                yield conn
            return
        async with self._sqlite_writers, translate_errors(), self.engine.connect() as conn:
            conn = await conn.execution_options(**{_SQLITE_BEGIN: "IMMEDIATE"})
            async with conn.begin():
                yield conn

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        async with translate_errors(), self.engine.connect() as conn, conn.begin():
            yield conn

    async def lock_events(self, conn: AsyncConnection) -> None:
        """Serialise appenders so position order equals commit order; plain readers go on."""
        if not self.is_sqlite:
            await conn.execute(sa.text("LOCK TABLE events IN EXCLUSIVE MODE"))

    async def advisory_lock(self, conn: AsyncConnection, name: str) -> None:
        """One holder of `name` at a time until the transaction ends (SQLite's BEGIN IMMEDIATE
        in `write()` already is one)."""
        if not self.is_sqlite:
            key = zlib.crc32(name.encode())
            await conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})

    async def dispose(self) -> None:
        await self.engine.dispose()


@asynccontextmanager
async def translate_errors() -> AsyncIterator[None]:
    try:
        yield
    except IntegrityError:
        raise  # a constraint the caller set up on purpose: it decides what that means
    except DBAPIError as error:
        log.debug("database error", exc_info=True)
        raise StoreUnavailable(f"database error: {_first_line(error.orig or error)}") from error
    except SQLAlchemyError as error:
        raise StoreUnavailable(f"database error: {_first_line(error)}") from error
    except OSError as error:
        raise StoreUnavailable(f"database unreachable: {error}") from error


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def create_database(url: str, *, pool_size: int = 10) -> Database:
    if url.startswith("sqlite"):
        extensions: dict[str, bool] = {}
        database = Database(_sqlite_engine(url, extensions))
        database.sqlite_extensions = extensions
        return database
    if url.startswith("postgresql"):
        if not url.startswith("postgresql+psycopg"):
            raise ConfigurationError("DATABASE_URL for PostgreSQL must use postgresql+psycopg://")
        engine = create_async_engine(
            url, pool_size=pool_size, max_overflow=pool_size, pool_timeout=120,
            hide_parameters=True,  # see _sqlite_engine
        )  # fmt: skip
        return Database(engine)
    raise ConfigurationError(f"unsupported DATABASE_URL scheme: {url.split(':', 1)[0]!r}")


def _sqlite_engine(url: str, extensions: dict[str, bool]) -> AsyncEngine:
    if not url.startswith("sqlite+aiosqlite"):
        raise ConfigurationError("DATABASE_URL for SQLite must use sqlite+aiosqlite:///PATH")
    # Every use ends its own transaction, so the pool's rollback-on-return (a thread hop per
    # checkout with aiosqlite) buys nothing.
    engine = create_async_engine(
        url,
        pool_size=5,
        max_overflow=5,
        pool_timeout=120,
        pool_reset_on_return=None,
        connect_args={"timeout": 60},
        # Errors name the statement, never its values (platform ids, sealed text): they are
        # logged with their tracebacks.
        hide_parameters=True,
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the driver so BEGIN is ours (see _on_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # The busy timeout first: switching to WAL needs a lock another process may hold.
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")  # durable across crashes of the app in WAL
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()
        extensions["sqlite_vec"] = _load_sqlite_vec(dbapi_connection)

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        mode = conn.get_execution_options().get(_SQLITE_BEGIN, "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def _load_sqlite_vec(dbapi_connection: Any) -> bool:
    """Load sqlite-vec where this Python can load SQLite extensions (many builds cannot)."""
    if not hasattr(sqlite3.Connection, "enable_load_extension"):
        return False
    try:
        import sqlite_vec  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return False
    driver = dbapi_connection.driver_connection  # the aiosqlite connection, on its own thread
    try:
        await_(driver.enable_load_extension(True))
        await_(driver.load_extension(sqlite_vec.loadable_path()))
        await_(driver.enable_load_extension(False))
    except sqlite3.Error:
        log.warning("sqlite-vec is installed but would not load", exc_info=True)
        return False
    return True
