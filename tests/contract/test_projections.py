"""Projections: rows and tracking commit together, catch up from anywhere, rebuild identically."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.store import migrate
from adapters.store.database import Database, create_database
from adapters.store.event_counts import EventTypeCounts
from adapters.store.event_store import SqlEventStore
from adapters.store.projections import ProjectionRunner
from domain.event_types import ConversationEvents, FeedbackEvents
from domain.events import NO_STREAM, NewEvent, RecordedEvent

_IDS = {"answer_id": "a", "user": "u", "thread": "t", "text": "?"}
EVENTS = [
    NewEvent(ConversationEvents.QUESTION_ASKED, {**_IDS, "channel": "c"}),
    NewEvent(
        ConversationEvents.ANSWER_GIVEN,
        {**_IDS, "model_version": "m", "answer_mode": "generated"},
        schema_version=2,
    ),
    NewEvent(FeedbackEvents.RATING_GIVEN, {**_IDS, "value": 1, "by_asker": True}),
]
TYPES = [event.type for event in EVENTS]


async def append_round(store: SqlEventStore, round_no: int, count: int) -> None:
    for i in range(count):
        event = EVENTS[(round_no + i) % len(EVENTS)]
        await store.append(f"r{round_no}-{i}", NO_STREAM, [event])


async def counts(db: Database) -> dict[str, int]:
    async with db.read() as conn:
        return await EventTypeCounts().read(conn)


async def test_rebuilt_projection_equals_the_incremental_one(
    db: Database, store: SqlEventStore
) -> None:
    runner = ProjectionRunner(db, store, batch_size=7)
    projection = EventTypeCounts()
    for round_no in range(4):
        await append_round(store, round_no, 10 + round_no)
        await runner.catch_up(projection)
    incremental = await counts(db)
    assert await runner.position(projection) == await store.last_position()

    await runner.rebuild(projection)
    rebuilt = await counts(db)
    truth = Counter(e.type for e in await store.read_all(0, limit=10_000))
    assert incremental == rebuilt == dict(truth)


async def test_catch_up_resumes_from_the_tracked_position(
    db: Database, store: SqlEventStore
) -> None:
    runner = ProjectionRunner(db, store)
    await append_round(store, 0, 5)
    assert await runner.catch_up(EventTypeCounts()) == 5
    assert await runner.catch_up(EventTypeCounts()) == 0  # nothing new: nothing applied twice
    await append_round(store, 1, 3)
    assert await runner.catch_up(EventTypeCounts()) == 3
    assert sum((await counts(db)).values()) == 8


class ExplodingCounts(EventTypeCounts):
    """Writes its rows, then fails on one event: the whole batch must roll back."""

    def __init__(self, explode_at: int) -> None:
        self.explode_at = explode_at

    async def apply(self, conn: AsyncConnection, events: Sequence[RecordedEvent]) -> None:
        await super().apply(conn, events)
        if any(e.position == self.explode_at for e in events):
            raise RuntimeError("projection bug")


async def test_a_failing_batch_writes_neither_rows_nor_position(
    db: Database, store: SqlEventStore
) -> None:
    runner = ProjectionRunner(db, store, batch_size=4)
    await append_round(store, 0, 10)
    with pytest.raises(RuntimeError):
        await runner.catch_up(ExplodingCounts(explode_at=6))
    # The first batch (1-4) committed; the second (5-8) rolled back with its tracking row.
    assert await runner.position(EventTypeCounts()) == 4
    assert sum((await counts(db)).values()) == 4
    assert await runner.catch_up(EventTypeCounts()) == 6
    assert sum((await counts(db)).values()) == 10


async def test_two_runners_at_once_apply_each_event_once(
    db: Database, store: SqlEventStore
) -> None:
    await append_round(store, 0, 60)
    runners = [ProjectionRunner(db, store, batch_size=5) for _ in range(2)]
    await asyncio.gather(*(r.catch_up(EventTypeCounts()) for r in runners))
    assert sum((await counts(db)).values()) == 60


async def test_catch_ups_at_once_never_wait_on_a_connection_they_hold(database_url: str) -> None:
    """Each catch-up holds one connection at a time: a burst of them on a small pool (two
    connections on PostgreSQL) all finish. Were the lock's holder to need a second connection
    while the others hold the rest waiting for the lock, the pool would give up (after 120 s)
    with StoreUnavailable."""
    db = create_database(database_url, pool_size=1)
    try:
        await migrate.upgrade(db)
        store = SqlEventStore(db)
        await append_round(store, 0, 30)
        runners = [ProjectionRunner(db, store, batch_size=5) for _ in range(6)]
        await asyncio.gather(*(r.catch_up(EventTypeCounts()) for r in runners))
        assert sum((await counts(db)).values()) == 30
    finally:
        await db.dispose()
