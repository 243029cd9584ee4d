"""The event store's contract, run on SQLite and on the embedded PostgreSQL alike. The portable
half (`any_store`) runs on the in-memory fake too, so service tests on it prove what they say;
races, crashes and raw rows are the SQL stores' own."""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from adapters.store import event_store as event_store_module
from adapters.store import migrate, schema
from adapters.store.database import Database, create_database
from adapters.store.event_store import SqlEventStore
from domain.catalogue import CATALOGUE, Upcasters
from domain.errors import ConcurrencyError, InvalidEvent
from domain.event_types import ConversationEvents, FeedbackEvents, KnowledgeEvents
from domain.events import NO_STREAM, NewEvent, RecordedEvent
from domain.ports import EventStore, OutboxMessage
from tests.conftest import BACKENDS
from tests.fakes import InMemoryEventStore


@pytest.fixture(params=[*BACKENDS, "memory"])
async def any_store(request: pytest.FixtureRequest) -> AsyncIterator[EventStore]:
    """The SQL store on each backend, and the in-memory fake the service tests use."""
    if request.param == "memory":
        yield InMemoryEventStore()
        return
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")
    database = create_database(url, pool_size=60)
    await migrate.upgrade(database)
    yield SqlEventStore(database)
    await database.dispose()


def asked(n: int = 0, **extra: object) -> NewEvent:
    payload = {"answer_id": f"a{n}", "user": "u", "channel": "c", "thread": "t", "text": "?"}
    return NewEvent(ConversationEvents.QUESTION_ASKED, {**payload, "n": n, **extra})


def rated(value: int = 1) -> NewEvent:
    payload = {"answer_id": "a0", "user": "u", "value": value, "by_asker": True}
    return NewEvent(FeedbackEvents.RATING_GIVEN, payload)


async def test_append_and_read_back_a_stream(any_store: EventStore) -> None:
    store = any_store
    result = await store.append("q-1", NO_STREAM, [asked(0), asked(1)])
    assert (result.first_version, result.last_version) == (0, 1)
    assert (result.first_position, result.last_position) == (1, 2)
    events = await store.read_stream("q-1")
    assert [(e.version, e.position, e.payload["n"]) for e in events] == [(0, 1, 0), (1, 2, 1)]
    assert events[0].type == ConversationEvents.QUESTION_ASKED
    assert events[0].schema_version == 1
    assert events[0].recorded_at.tzinfo is not None
    assert await store.stream_version("q-1") == 1
    assert await store.stream_version("nothing") == NO_STREAM


async def test_payload_and_metadata_round_trip_as_json(any_store: EventStore) -> None:
    payload = {"source_id": "s", "name": "héllo ✓", "root": "/kb", "license": "MIT",
               "nested": {"list": [1, 2.5, None, True]}}  # fmt: skip
    metadata = {"correlation_id": "c-1", "platform_event_id": "Ev123"}
    await any_store.append(
        "s", NO_STREAM, [NewEvent(KnowledgeEvents.SOURCE_REGISTERED, payload, 1, metadata)]
    )
    [event] = await any_store.read_stream("s")
    assert event.payload == payload
    assert event.metadata == metadata


async def test_duplicate_version_is_rejected(any_store: EventStore) -> None:
    store = any_store
    await store.append("s", NO_STREAM, [asked(0)])
    with pytest.raises(ConcurrencyError) as raised:
        await store.append("s", NO_STREAM, [asked(1)])
    assert raised.value.actual_version == 0
    with pytest.raises(ConcurrencyError):
        await store.append("s", 5, [asked(1)])
    assert [e.payload["n"] for e in await store.read_stream("s")] == [0]


async def test_a_batch_is_all_or_nothing(
    store: SqlEventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    await store.append("s", NO_STREAM, [asked(0)])

    async def crash_after_insert(*_args: object) -> None:
        raise RuntimeError("crash between the events and the outbox")

    # The events of the batch are already inserted when this fails: all must roll back.
    monkeypatch.setattr(event_store_module, "_enqueue", crash_after_insert)
    with pytest.raises(RuntimeError):
        await store.append("s", 0, [asked(1), asked(2), asked(3)], outbox=[OutboxMessage("c")])
    monkeypatch.undo()
    assert [e.version for e in await store.read_stream("s")] == [0]
    assert await store.last_position() == 1
    result = await store.append("s", 0, [asked(1)])
    assert result.first_position == 2  # no hole was left behind


async def test_invalid_batches_are_refused_before_touching_the_store(
    any_store: EventStore,
) -> None:
    store = any_store
    with pytest.raises(InvalidEvent):
        await store.append("s", NO_STREAM, [])
    with pytest.raises(InvalidEvent):
        await store.append("", NO_STREAM, [asked()])
    with pytest.raises(InvalidEvent):
        await store.append("s" * 201, NO_STREAM, [asked()])
    with pytest.raises(InvalidEvent):
        NewEvent("not a type")
    with pytest.raises(InvalidEvent):
        NewEvent(ConversationEvents.QUESTION_ASKED, {"when": object()})
    assert await store.last_position() == 0


async def test_only_catalogued_complete_current_events_are_stored(any_store: EventStore) -> None:
    store = any_store
    with pytest.raises(InvalidEvent, match="not in the catalogue"):
        await store.append("s", NO_STREAM, [NewEvent("conversation.QuestionAskd", {"n": 1})])
    incomplete = dict(asked().payload)
    del incomplete["user"]
    with pytest.raises(InvalidEvent, match="missing user"):
        await store.append(
            "s", NO_STREAM, [NewEvent(ConversationEvents.QUESTION_ASKED, incomplete)]
        )
    answer = {"answer_id": "a", "thread": "t", "text": "x", "model_version": "m"}
    with pytest.raises(InvalidEvent, match="schema version 2"):  # old shapes only as stored rows
        await store.append("s", NO_STREAM, [NewEvent(ConversationEvents.ANSWER_GIVEN, answer)])
    # One bad event refuses the whole batch.
    with pytest.raises(InvalidEvent):
        await store.append("s", NO_STREAM, [asked(0), NewEvent("admin.AdminCommandIssued")])
    assert await store.last_position() == 0
    assert await store.stream_version("s") == NO_STREAM


async def test_an_answer_stored_before_answer_modes_reads_as_the_current_shape(
    db: Database,
) -> None:
    """conversation.AnswerGiven v1 rows written before answer modes existed had no
    `answer_mode`; v2 always has one. The row stays as stored; readers see v2."""
    old_payload = {"answer_id": "a1", "thread": "t", "text": "sealed", "model_version": "m"}
    async with db.write() as conn:
        await conn.execute(sa.insert(schema.events).values(
            position=1, stream_id="conversation-a1", version=0,
            type=ConversationEvents.ANSWER_GIVEN, schema_version=1, payload=old_payload,
            metadata={}, recorded_at=datetime(2026, 11, 1, tzinfo=UTC),
        ))  # fmt: skip
    assert CATALOGUE[ConversationEvents.ANSWER_GIVEN].version == 2
    [event] = await SqlEventStore(db).read_stream("conversation-a1")
    assert event.schema_version == 2
    assert event.payload == {**old_payload, "answer_mode": "generated"}
    [by_type] = await SqlEventStore(db).read_all(0, types=[ConversationEvents.ANSWER_GIVEN])
    assert by_type.payload["answer_mode"] == "generated"
    # Without the catalogue's upcasters the row is what was stored: the upcast is on read only.
    [raw] = await SqlEventStore(db, upcasters=Upcasters()).read_stream("conversation-a1")
    assert (raw.schema_version, raw.payload) == (1, old_payload)
    # A v1 row written after modes existed keeps its own mode.
    async with db.write() as conn:
        await conn.execute(sa.insert(schema.events).values(
            position=2, stream_id="conversation-a1", version=1,
            type=ConversationEvents.ANSWER_GIVEN, schema_version=1,
            payload={**old_payload, "answer_mode": "declined"}, metadata={},
            recorded_at=datetime(2026, 11, 2, tzinfo=UTC),
        ))  # fmt: skip
    events = await SqlEventStore(db).read_stream("conversation-a1")
    assert [e.payload["answer_mode"] for e in events] == ["generated", "declined"]


def test_the_fake_reads_old_rows_through_the_same_upcasters() -> None:
    store = InMemoryEventStore()
    old_payload = {"answer_id": "a1", "thread": "t", "text": "sealed", "model_version": "m"}
    store.events.append(RecordedEvent(
        1, "conversation-a1", 0, ConversationEvents.ANSWER_GIVEN, 1, old_payload, {},
        datetime(2026, 11, 1, tzinfo=UTC),
    ))  # fmt: skip
    [event] = asyncio.run(store.read_stream("conversation-a1"))
    assert (event.schema_version, event.payload["answer_mode"]) == (2, "generated")
    assert store.events[0].payload == old_payload  # what was stored stays as it was


async def test_positions_are_gapless_and_follow_commit_order(any_store: EventStore) -> None:
    store = any_store

    async def writer(stream: str) -> list[int]:
        positions, version = [], NO_STREAM
        for i in range(20):
            result = await store.append(stream, version, [asked(i), asked(i)])
            positions.append(result.first_position)
            version = result.last_version
        return positions

    per_writer = await asyncio.gather(*(writer(f"w-{w}") for w in range(8)))
    for positions in per_writer:
        assert positions == sorted(positions)  # each writer's later commits come later
    everything = await store.read_all(0, limit=10_000)
    assert [e.position for e in everything] == list(range(1, 8 * 20 * 2 + 1))
    for stream in {e.stream_id for e in everything}:
        versions = [e.version for e in everything if e.stream_id == stream]
        assert versions == list(range(40))


async def test_read_all_pages_and_filters_by_type(any_store: EventStore) -> None:
    store = any_store
    await store.append("a", NO_STREAM, [asked(0), rated()])
    await store.append("b", NO_STREAM, [asked(1)])
    first_page = await store.read_all(0, limit=2)
    assert [e.position for e in first_page] == [1, 2]
    assert [e.position for e in await store.read_all(2)] == [3]
    ratings = await store.read_all(0, types=[FeedbackEvents.RATING_GIVEN])
    assert [e.stream_id for e in ratings] == ["a"]


async def test_fifty_writers_racing_on_one_stream_leave_no_gap_or_duplicate(
    store: SqlEventStore,
) -> None:
    writers, appends_each = 50, 200
    conflicts = 0

    async def writer(w: int) -> None:
        nonlocal conflicts
        expected = await store.stream_version("hot")
        for i in range(appends_each):
            for attempt in itertools.count():
                try:
                    result = await store.append("hot", expected, [asked(i, writer=w)])
                    expected = result.last_version
                    break
                except ConcurrencyError as lost:
                    conflicts += 1
                    expected = lost.actual_version
                    # What a real client does: back off exponentially, with jitter.
                    await asyncio.sleep(random.uniform(0, 0.002 * 2 ** min(attempt, 7)))

    await asyncio.gather(*(writer(w) for w in range(writers)))
    events = await store.read_stream("hot")
    assert [e.version for e in events] == list(range(writers * appends_each))
    per_writer = [sum(1 for e in events if e.payload["writer"] == w) for w in range(writers)]
    assert per_writer == [appends_each] * writers
    assert conflicts > 0  # the race really happened


async def test_a_tailing_reader_skips_nothing_while_writers_append(store: SqlEventStore) -> None:
    total, writers, batch = 10_000, 10, 5
    done = asyncio.Event()

    async def writer(w: int) -> None:
        version = NO_STREAM
        for b in range(total // writers // batch):
            events = [asked(b * batch + i, writer=w) for i in range(batch)]
            version = (await store.append(f"tail-{w}", version, events)).last_version

    async def reader() -> list[int]:
        seen: list[int] = []
        while len(seen) < total:
            page = await store.read_all(seen[-1] if seen else 0, limit=700)
            seen.extend(e.position for e in page)
            if not page:
                await asyncio.sleep(0.001)
        return seen

    reading = asyncio.create_task(reader())
    await asyncio.gather(*(writer(w) for w in range(writers)))
    done.set()
    seen = await asyncio.wait_for(reading, timeout=120)
    assert seen == list(range(1, total + 1))


async def test_one_platform_event_delivered_four_times_appends_once(
    any_store: EventStore,
) -> None:
    store = any_store

    async def deliver() -> tuple[int, int, bool]:
        result = await store.append(
            "question-Ev42",
            NO_STREAM,
            [asked(1, text="how do I deploy?")],
            idempotency_key="slack:Ev42",
            outbox=[OutboxMessage("slack:C1", {"text": "on it"})],
        )
        return result.first_position, result.last_version, result.duplicate

    results = await asyncio.gather(*(deliver() for _ in range(4)))
    assert {(position, version) for position, version, _ in results} == {(1, 0)}
    assert sorted(duplicate for *_, duplicate in results) == [False, True, True, True]
    assert len(await store.read_all(0)) == 1
    # A later redelivery, even with a stale expected version, yields the first result.
    again = await store.append("question-Ev42", NO_STREAM, [asked(2)], idempotency_key="slack:Ev42")
    assert again.duplicate
    assert again.first_position == 1
    assert len(await store.read_all(0)) == 1


async def test_delivered_says_whether_an_idempotency_key_was_stored(any_store: EventStore) -> None:
    assert not await any_store.delivered("slack:Ev7")
    await any_store.append("question-Ev7", NO_STREAM, [asked(7)], idempotency_key="slack:Ev7")
    assert await any_store.delivered("slack:Ev7")
    assert not await any_store.delivered("slack:Ev8")
