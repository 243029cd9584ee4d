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
