"""Replies are written with the events that caused them and delivered once."""

from adapters.store.database import Database
from adapters.store.event_store import SqlEventStore
from adapters.store.outbox import SqlOutbox
from domain.events import NO_STREAM, NewEvent
from domain.ports import OutboxMessage

ANSWER = {"answer_id": "a1", "thread": "t", "text": "42", "model_version": "m",
          "answer_mode": "generated"}  # fmt: skip


async def test_outbox_messages_commit_with_their_events(db: Database, store: SqlEventStore) -> None:
    outbox = SqlOutbox(db)
    result = await store.append(
        "q",
        NO_STREAM,
        [NewEvent("conversation.AnswerGiven", ANSWER, schema_version=2)],
        outbox=[OutboxMessage("local:general", {"text": "42"}), OutboxMessage("local:ops", {})],
    )
    pending = await outbox.pending()
    assert [(m.destination, m.payload) for m in pending] == [
        ("local:general", {"text": "42"}),
        ("local:ops", {}),
    ]
    assert result.last_position == 1
    await outbox.mark_failed(pending[0].id)
    await outbox.mark_sent(pending[1].id)
    [left] = await outbox.pending()
    assert (left.destination, left.attempts) == ("local:general", 1)
    await outbox.mark_sent(left.id)
    assert await outbox.pending() == []


async def test_one_replica_at_a_time_delivers_a_message(
    database_url: str, store: SqlEventStore
) -> None:
    """Two replicas (two engines, as two processes have) polling one outbox: a message is
    claimed by one; the other is turned away until it is freed, and then sees it sent."""
    from adapters.store.database import create_database

    await store.append("q", NO_STREAM, [NewEvent("conversation.AnswerGiven", ANSWER,
                                                 schema_version=2)],
                       outbox=[OutboxMessage("slack", {"answer_id": "a1"})])  # fmt: skip
    first_db, second_db = create_database(database_url), create_database(database_url)
    first, second = SqlOutbox(first_db), SqlOutbox(second_db)
    try:
        [message] = await first.pending()
        assert [m.id for m in await second.pending()] == [message.id]  # both see it pending
        async with first.claim(message.id) as mine:
            assert mine
            async with second.claim(message.id) as theirs:
                assert not theirs
            await first.mark_sent(message.id)
        async with second.claim(message.id) as theirs:
            assert not theirs  # free again, but already sent
        await store.append("q2", NO_STREAM, [NewEvent("conversation.AnswerGiven", ANSWER,
                                                      schema_version=2)],
                           outbox=[OutboxMessage("slack", {"answer_id": "a2"})])  # fmt: skip
        [other] = await second.pending()
        async with first.claim(other.id) as mine:
            assert mine
        await first.close()  # a replica that stops (or dies) frees what it held
        async with second.claim(other.id) as theirs:
            assert theirs
    finally:
        await first.close()
        await second.close()
        await first_db.dispose()
        await second_db.dispose()
