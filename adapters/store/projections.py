"""The projection runner: each batch of a projection's rows and its tracking position commit in
one transaction, so a projection sees every event exactly once and can be rebuilt from zero."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.store import schema
from adapters.store.clock import SystemClock
from adapters.store.database import Database
from adapters.store.event_store import SqlEventStore
from adapters.store.rows import update_or_insert
from domain.events import RecordedEvent
from domain.ports import Clock

log = logging.getLogger(__name__)


class Projection(Protocol):
    """A read model kept in SQL tables. `apply` writes in the runner's transaction."""

    name: str

    async def apply(self, conn: AsyncConnection, events: Sequence[RecordedEvent]) -> None: ...

    async def reset(self, conn: AsyncConnection) -> None: ...


class ProjectionRunner:
    def __init__(
        self,
        db: Database,
        store: SqlEventStore,
        *,
        clock: Clock | None = None,
        batch_size: int = 500,
    ) -> None:
        self._db = db
        self._store = store
        self._clock = clock or SystemClock()
        self._batch_size = batch_size

    async def position(self, projection: Projection) -> int:
        async with self._db.read() as conn:
            return await _tracked_position(conn, projection.name)

    async def catch_up(
        self, projection: Projection, on_batch: Callable[[int], None] | None = None
    ) -> int:
        """Apply every event after the projection's position; returns how many were applied."""
        applied = 0
        while True:
            batch = await self._next_batch(projection)
            if not batch:
                return applied
            applied += len(batch)
            if on_batch is not None:
                on_batch(len(batch))

    async def _next_batch(self, projection: Projection) -> list[RecordedEvent]:
        async with self._db.write() as conn:
            await self._db.advisory_lock(conn, f"projection:{projection.name}")
            # Re-read the position inside the write transaction: two runners on one database
            # then take turns instead of applying the same batch twice.
            position = await _tracked_position(conn, projection.name)
            # Read on this transaction's connection: with every pooled connection held by a
            # runner waiting for the lock above, the holder could never get a second one.
            batch = await self._store.read_all_on(conn, position, limit=self._batch_size)
            if batch:
                await projection.apply(conn, batch)
                await self._track(conn, projection.name, batch[-1].position)
            return batch

    async def rebuild(
        self, projection: Projection, on_batch: Callable[[int], None] | None = None
    ) -> int:
        """Drop the projection's rows and replay the whole store into it."""
        async with self._db.write() as conn:
            await projection.reset(conn)
            await self._track(conn, projection.name, 0)
        log.info("rebuilding projection %s from position 0", projection.name)
        return await self.catch_up(projection, on_batch)

    async def _track(self, conn: AsyncConnection, consumer: str, position: int) -> None:
        values = {"position": position, "updated_at": self._clock.now()}
        await update_or_insert(conn, schema.tracking, {"consumer": consumer}, values)


async def _tracked_position(conn: AsyncConnection, consumer: str) -> int:
    query = sa.select(schema.tracking.c.position).where(schema.tracking.c.consumer == consumer)
    value = (await conn.execute(query)).scalar()
    return 0 if value is None else int(value)
