"""Who delivers an outbox message now: one process at a time across every replica.

A claim is held for the delivery and freed when it ends, or when its process dies (a crashed
replica's jobs are taken up by the others at once, or by itself on restart). PostgreSQL: session
advisory locks, all of one process's on one connection of their own (autocommit, so no
transaction stays open). SQLite: open-file-description record locks (Linux `F_OFD_SETLK`), one
byte per message id, on one lock file next to the database file; the kernel frees them with the
descriptor, which dies with its process. (Unlike classic POSIX locks they belong to the
descriptor, not the process, so two outboxes in one process exclude each other too.)"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.store.database import Database, translate_errors
from adapters.store.job_lock import advisory_key

log = logging.getLogger(__name__)


class OutboxClaims:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._guard = asyncio.Lock()  # one statement at a time on the shared connection
        self._conn: AsyncConnection | None = None
        self._descriptor: int | None = None

    @asynccontextmanager
    async def hold(self, message_id: int) -> AsyncIterator[bool]:
        if not await self._take(message_id):
            yield False
            return
        try:
            yield True
        finally:
            await self._free(message_id)

    async def close(self) -> None:
        async with self._guard:
            if self._conn is not None:
                await self._conn.close()  # the session's locks go with it
                self._conn = None
            if self._descriptor is not None:
                os.close(self._descriptor)
                self._descriptor = None

    async def _take(self, message_id: int) -> bool:
        async with self._guard:
            if self._db.is_sqlite:
                descriptor = self._lock_file()
                if descriptor is None:
                    return True  # an in-memory database: no other process can see it
                return _record_lock(descriptor, message_id, fcntl.F_WRLCK)
            conn = await self._connection()
            try:
                async with translate_errors():
                    query = sa.text("SELECT pg_try_advisory_lock(:key)")
                    found = await conn.execute(query, {"key": _key(message_id)})
                    return bool(found.scalar())
            except Exception:
                await self._drop_connection()  # a broken session must not hold on to locks
                raise

    async def _free(self, message_id: int) -> None:
        async with self._guard:
            if self._db.is_sqlite:
                if self._descriptor is not None:
                    _record_lock(self._descriptor, message_id, fcntl.F_UNLCK)
                return
            if self._conn is None:
                return  # the session was dropped: its locks went with it
            try:
                query = sa.text("SELECT pg_advisory_unlock(:key)")
                await self._conn.execute(query, {"key": _key(message_id)})
            except Exception:
                log.warning("releasing the claim on outbox message %d failed", message_id,
                            exc_info=True)  # fmt: skip
                await self._drop_connection()

    async def _connection(self) -> AsyncConnection:
        if self._conn is None:
            async with translate_errors():
                conn = await self._db.engine.connect()
                self._conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        return self._conn

    async def _drop_connection(self) -> None:
        if self._conn is not None:
            try:
                await self._conn.invalidate()
            finally:
                self._conn = None

    def _lock_file(self) -> int | None:
        if self._descriptor is None:
            database = self._db.engine.url.database
            if not database or database == ":memory:":
                return None
            file = Path(database).expanduser()
            path = file.with_name(f"{file.name}.outbox.lock")
            self._descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        return self._descriptor


def _record_lock(descriptor: int, offset: int, kind: int) -> bool:
    """Lock (or unlock) one byte at `offset` without waiting; False when another holds it."""
    request = struct.pack("hhqqi4x", kind, os.SEEK_SET, offset, 1, 0)  # struct flock, l_pid 0
    try:
        fcntl.fcntl(descriptor, fcntl.F_OFD_SETLK, request)
    except OSError:
        return False
    return True


def _key(message_id: int) -> int:
    return advisory_key(f"outbox-{message_id}")
