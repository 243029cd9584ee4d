"""Per-user data keys in their own table: deleting a row is crypto-shredding."""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from adapters.store import schema
from adapters.store.clock import SystemClock
from adapters.store.database import Database
from domain.ports import Clock

KEY_BYTES = 32  # AES-256
table = schema.user_keys


class SqlKeyVault:
    def __init__(self, db: Database, *, clock: Clock | None = None) -> None:
        self._db = db
        self._clock = clock or SystemClock()

    async def existing_key(self, user: str, epoch: str) -> bytes | None:
        query = sa.select(table.c.key).where(table.c.user_id == user, table.c.epoch == epoch)
        async with self._db.read() as conn:
            value = (await conn.execute(query)).scalar()
        return None if value is None else bytes(value)

    async def data_key(self, user: str, epoch: str) -> bytes:
        existing = await self.existing_key(user, epoch)
        if existing is not None:
            return existing
        key = secrets.token_bytes(KEY_BYTES)
        row = {"user_id": user, "epoch": epoch, "key": key, "created_at": self._clock.now()}
        try:
            async with self._db.write() as conn:
                await conn.execute(sa.insert(table).values(**row))
        except IntegrityError:
            pass  # another writer made it first: use theirs
        created = await self.existing_key(user, epoch)
        assert created is not None, "a key vanished between insert and read"
        return created

    async def shred_user(self, user: str) -> int:
        return await self._delete(table.c.user_id == user)

    async def shred_before(self, epoch: str) -> int:
        return await self._delete(table.c.epoch < epoch)

    async def shred_key(self, user: str, epoch: str) -> int:
        return await self._delete(sa.and_(table.c.user_id == user, table.c.epoch == epoch))

    async def _delete(self, condition: sa.ColumnElement[bool]) -> int:
        async with self._db.write() as conn:
            deleted = await conn.execute(sa.delete(table).where(condition))
        return int(deleted.rowcount)
