"""Replies waiting to be delivered; written with the events that caused them, sent once: a
worker claims a message before delivering it (adapters/store/outbox_claims.py), so replicas
polling one database never deliver it twice."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import sqlalchemy as sa

from adapters.store import schema
from adapters.store.clock import SystemClock
from adapters.store.database import Database
from adapters.store.outbox_claims import OutboxClaims
from domain.ports import Clock, PendingMessage


class SqlOutbox:
    def __init__(self, db: Database, *, clock: Clock | None = None) -> None:
        self._db = db
        self._clock = clock or SystemClock()
        self._claims = OutboxClaims(db)

    @asynccontextmanager
    async def claim(self, message_id: int) -> AsyncIterator[bool]:
        """True while this process alone may deliver the message, which is still unsent."""
        async with self._claims.hold(message_id) as held:
            yield held and await self._unsent(message_id)

    async def close(self) -> None:
        """Free this process's claims (its connection or lock file)."""
        await self._claims.close()

    async def _unsent(self, message_id: int) -> bool:
        table = schema.outbox
        query = sa.select(table.c.sent_at).where(table.c.id == message_id)
        async with self._db.read() as conn:
            row = (await conn.execute(query)).first()
        return row is not None and row.sent_at is None

    async def pending(self, limit: int = 100) -> list[PendingMessage]:
        query = (
            sa.select(schema.outbox)
            .where(schema.outbox.c.sent_at.is_(None))
            .order_by(schema.outbox.c.id)
            .limit(limit)
        )
        async with self._db.read() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [
            PendingMessage(
                id=row["id"],
                destination=row["destination"],
                payload=row["payload"],
                attempts=row["attempts"],
            )
            for row in rows
        ]

    async def mark_sent(self, message_id: int) -> None:
        await self._update(message_id, sent_at=self._clock.now())

    async def mark_failed(self, message_id: int) -> None:
        await self._update(message_id, attempts=schema.outbox.c.attempts + 1)

    async def _update(self, message_id: int, **values: object) -> None:
        statement = (
            sa.update(schema.outbox).where(schema.outbox.c.id == message_id).values(**values)
        )
        async with self._db.write() as conn:
            await conn.execute(statement)
