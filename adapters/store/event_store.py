"""The SQL event store: optimistic concurrency per stream, commit-ordered gapless positions,
idempotent platform deliveries (inbox) and replies written in the same transaction (outbox)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.store import schema
from adapters.store.clock import SystemClock, as_utc
from adapters.store.database import Database
from domain.catalogue import Upcasters, validate_append
from domain.catalogue import upcasters as catalogue_upcasters
from domain.errors import ConcurrencyError, InvalidEvent
from domain.events import NO_STREAM, AppendResult, NewEvent, RecordedEvent
from domain.ports import Clock, OutboxMessage

MAX_BATCH = 10_000


class SqlEventStore:
    def __init__(
        self, db: Database, *, clock: Clock | None = None, upcasters: Upcasters | None = None
    ) -> None:
        self._db = db
        self._clock = clock or SystemClock()
        # Readers only ever see current shapes: the catalogue's upcasters unless told otherwise.
        self._upcasters = catalogue_upcasters() if upcasters is None else upcasters

    async def append(
        self,
        stream_id: str,
        expected_version: int | None,
        events: Sequence[NewEvent],
        *,
        idempotency_key: str | None = None,
        outbox: Sequence[OutboxMessage] = (),
    ) -> AppendResult:
        _check_batch(stream_id, events)
        precheck = (
            idempotency_key is None
            and expected_version is not None
            and not self._db.writers_queue_in_process
        )
        try:
            async with self._db.write() as conn:
                if precheck and expected_version is not None:
                    # Fail a stale writer before it queues for the lock; rechecked under it.
                    await _check_version(conn, stream_id, expected_version)
                await self._db.lock_events(conn)
                if idempotency_key is not None:
                    seen = await _seen_delivery(conn, idempotency_key)
                    if seen is not None:
                        return seen
                result = await self._insert(conn, stream_id, expected_version, events)
                if idempotency_key is not None:
                    await _remember_delivery(conn, idempotency_key, result, self._clock)
                await _enqueue(conn, outbox, result.last_position, self._clock)
                return result
        except IntegrityError as error:
            # Only reachable when another writer slipped past the lock (expected_version=None on
            # a backend without one): report it as the concurrency conflict it is.
            actual = await self.stream_version(stream_id)
            raise ConcurrencyError(stream_id, _expected(expected_version), actual) from error

    async def _insert(
        self,
        conn: AsyncConnection,
        stream_id: str,
        expected_version: int | None,
        events: Sequence[NewEvent],
    ) -> AppendResult:
        # Under the write lock, max + 1 is both gapless and in commit order.
        current, last_position = await _stream_and_store_heads(conn, stream_id)
        if expected_version is not None:
            await _check_version(conn, stream_id, expected_version, current)
        recorded_at = self._clock.now()
        rows = [
            {
                "position": last_position + offset,
                "stream_id": stream_id,
                "version": current + offset,
                "type": new.type,
                "schema_version": new.schema_version,
                "payload": new.payload,
                "metadata": new.metadata,
                "recorded_at": recorded_at,
            }
            for offset, new in enumerate(events, start=1)
        ]
        await conn.execute(sa.insert(schema.events), rows)
        return AppendResult(
            stream_id=stream_id,
            first_version=current + 1,
            last_version=current + len(rows),
            first_position=last_position + 1,
            last_position=last_position + len(rows),
        )

    async def read_stream(self, stream_id: str, from_version: int = 0) -> list[RecordedEvent]:
        query = (
            sa.select(schema.events)
            .where(schema.events.c.stream_id == stream_id)
            .where(schema.events.c.version >= from_version)
            .order_by(schema.events.c.version)
        )
        async with self._db.read() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [self._recorded(row) for row in rows]

    async def read_all(
        self, after_position: int = 0, limit: int = 1000, types: Sequence[str] | None = None
    ) -> list[RecordedEvent]:
        async with self._db.read() as conn:
            return await self.read_all_on(conn, after_position, limit, types)

    async def read_all_on(
        self, conn: AsyncConnection, after_position: int = 0, limit: int = 1000,
        types: Sequence[str] | None = None,
    ) -> list[RecordedEvent]:  # fmt: skip
        """`read_all` on a connection the caller holds: a writer that reads in its own
        transaction never waits for a second connection from the pool while holding one."""
        query = (
            sa.select(schema.events)
            .where(schema.events.c.position > after_position)
            .order_by(schema.events.c.position)
            .limit(limit)
        )
        if types:
            query = query.where(schema.events.c.type.in_(list(types)))
        rows = (await conn.execute(query)).mappings().all()
        return [self._recorded(row) for row in rows]

    async def stream_version(self, stream_id: str) -> int:
        async with self._db.read() as conn:
            return await _current_version(conn, stream_id)

    async def last_position(self) -> int:
        async with self._db.read() as conn:
            return await _max_position(conn)

    async def delivered(self, idempotency_key: str) -> bool:
        """Whether an append with this idempotency key was stored (by any process)."""
        async with self._db.read() as conn:
            return await _seen_delivery(conn, idempotency_key) is not None

    def _recorded(self, row: Any) -> RecordedEvent:
        event = RecordedEvent(
            position=row["position"],
            stream_id=row["stream_id"],
            version=row["version"],
            type=row["type"],
            schema_version=row["schema_version"],
            payload=row["payload"],
            metadata=row["metadata"],
            recorded_at=as_utc(row["recorded_at"]),
        )
        return self._upcasters.upcast(event)


def _check_batch(stream_id: str, events: Sequence[NewEvent]) -> None:
    validate_append(stream_id, events)  # the catalogue's rules, shared with every store
    if len(events) > MAX_BATCH:
        raise InvalidEvent(f"an append takes at most {MAX_BATCH} events, got {len(events)}")


def _expected(expected_version: int | None) -> int:
    return NO_STREAM if expected_version is None else expected_version


async def _current_version(conn: AsyncConnection, stream_id: str) -> int:
    query = sa.select(sa.func.max(schema.events.c.version)).where(
        schema.events.c.stream_id == stream_id
    )
    value = (await conn.execute(query)).scalar()
    return NO_STREAM if value is None else int(value)


async def _stream_and_store_heads(conn: AsyncConnection, stream_id: str) -> tuple[int, int]:
    """The stream's last version and the store's last position, in one round trip."""
    events = schema.events
    version = sa.select(sa.func.max(events.c.version)).where(events.c.stream_id == stream_id)
    position = sa.select(sa.func.max(events.c.position))
    row = (
        await conn.execute(sa.select(version.scalar_subquery(), position.scalar_subquery()))
    ).one()
    return (NO_STREAM if row[0] is None else int(row[0])), (0 if row[1] is None else int(row[1]))


async def _check_version(
    conn: AsyncConnection, stream_id: str, expected: int, current: int | None = None
) -> None:
    if current is None:
        current = await _current_version(conn, stream_id)
    if current != expected:
        raise ConcurrencyError(stream_id, expected, current)


async def _max_position(conn: AsyncConnection) -> int:
    value = (await conn.execute(sa.select(sa.func.max(schema.events.c.position)))).scalar()
    return 0 if value is None else int(value)


async def _seen_delivery(conn: AsyncConnection, key: str) -> AppendResult | None:
    query = sa.select(schema.inbox).where(schema.inbox.c.key == key)
    row = (await conn.execute(query)).mappings().first()
    if row is None:
        return None
    return AppendResult(
        stream_id=row["stream_id"],
        first_version=row["first_version"],
        last_version=row["last_version"],
        first_position=row["first_position"],
        last_position=row["last_position"],
        duplicate=True,
    )


async def _remember_delivery(
    conn: AsyncConnection, key: str, result: AppendResult, clock: Clock
) -> None:
    await conn.execute(
        sa.insert(schema.inbox).values(
            key=key,
            stream_id=result.stream_id,
            first_version=result.first_version,
            last_version=result.last_version,
            first_position=result.first_position,
            last_position=result.last_position,
            received_at=clock.now(),
        )
    )


async def _enqueue(
    conn: AsyncConnection, messages: Sequence[OutboxMessage], position: int, clock: Clock
) -> None:
    if not messages:
        return
    now = clock.now()
    rows = [
        {
            "destination": message.destination,
            "payload": message.payload,
            "causation_position": position,
            "created_at": now,
            "attempts": 0,
        }
        for message in messages
    ]
    await conn.execute(sa.insert(schema.outbox), rows)
