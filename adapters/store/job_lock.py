"""Job locks: one holder of a named job across every process on the database.

PostgreSQL: a session advisory lock (`pg_try_advisory_lock`) on a connection of its own, held in
autocommit for the job's duration (no transaction left open for hours); the server frees it when
that session ends, also when the holder dies. SQLite: an exclusive `flock` on a file next to the
database file, which the kernel frees with the holder's file descriptor (or its process).
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.store.database import Database, translate_errors
from domain.errors import ConfigurationError

log = logging.getLogger(__name__)

_KEY_PREFIX = b"buddy-job:"  # the single-bigint key space; migrations use crc32 keys (< 2**32)


def advisory_key(name: str) -> int:
    """A signed 64-bit key for `name`, well away from the crc32 keys of transaction locks."""
    digest = hashlib.sha256(_KEY_PREFIX + name.encode()).digest()
    key = int.from_bytes(digest[:8], "big", signed=True)
    return key + 2**32 if 0 <= key < 2**32 else key


class SqlJobLock:
    """The `JobLock` port on the store's database (both backends)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    @asynccontextmanager
    async def hold(self, name: str) -> AsyncIterator[bool]:
        if self._db.is_sqlite:
            async with _file_lock(self.lock_path(name)) as held:
                yield held
            return
        async with _advisory_lock(self._db, name) as held:
            yield held

    def lock_path(self, name: str) -> Path:
        """The lock file of `name` next to the SQLite database file."""
        database = self._db.engine.url.database
        if not database or database == ":memory:":
            raise ConfigurationError("job locks on SQLite need a database file")
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
        file = Path(database).expanduser()
        return file.with_name(f"{file.name}.{safe}.lock")


@asynccontextmanager
async def _file_lock(path: Path) -> AsyncIterator[bool]:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        # The file stays: removing it would let a newcomer lock a fresh file beside a holder.
        try:
            yield True
        finally:
            fcntl.flock(descriptor, fcntl.LOCK_UN)
    finally:
        os.close(descriptor)


@asynccontextmanager
async def _advisory_lock(db: Database, name: str) -> AsyncIterator[bool]:
    key = advisory_key(name)
    async with translate_errors():
        conn = await db.engine.connect()
    try:
        async with translate_errors():
            # Autocommit: a session lock needs no transaction, and none stays open for hours.
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            try_lock = sa.text("SELECT pg_try_advisory_lock(:key)")
            held = bool((await conn.execute(try_lock, {"key": key})).scalar())
        if not held:
            yield False
            return
        try:
            yield True  # the job's own errors pass through untranslated
        finally:
            await _unlock(conn, key, name)
    finally:
        await conn.close()


async def _unlock(conn: AsyncConnection, key: int, name: str) -> None:
    try:
        unlock = sa.text("SELECT pg_advisory_unlock(:key)")
        released = bool((await conn.execute(unlock, {"key": key})).scalar())
    except Exception:  # the session must not go back to the pool still holding the lock
        log.warning("releasing job lock %r failed; dropping its connection", name, exc_info=True)
        await conn.invalidate()
        return
    if not released:  # pragma: no cover - the session held it a moment ago
        log.warning("job lock %r was no longer held when released", name)
