"""A question edited or deleted on the platform. An edit stores the new text (sealed in the
conversation's scope); a deletion shreds the conversation's key, so the question and the answer
built from it never open again, and says so with `QuestionDeleted`."""

from __future__ import annotations

from dataclasses import dataclass

from domain.conversation import answer_id_for
from domain.event_types import ConversationEvents
from domain.events import NewEvent
from domain.ports import EventStore
from domain.privacy_service import PrivacyService

_ASKED = ConversationEvents.ASKED


@dataclass(frozen=True)
class QuestionChange:
    platform_message: str  # the same platform id the question was asked with
    new_text: str | None = None  # None: the message was deleted


class ChangeQuestion:
    def __init__(self, store: EventStore, privacy: PrivacyService) -> None:
        self._store = store
        self._privacy = privacy

    async def __call__(self, change: QuestionChange) -> str | None:
        """The event type recorded, or None when the message was not a question of ours."""
        answer_id = answer_id_for("", change.platform_message)
        stream = f"conversation-{answer_id}"
        events = await self._store.read_stream(stream)
        asked = next((e for e in events if e.type in _ASKED), None)
        if asked is None:
            return None
        user = str(asked.payload["user"])  # only the author's question is stored under this id
        if change.new_text is None:
            await self._privacy.shred(user, asked.payload["text"])
            event = NewEvent(
                ConversationEvents.QUESTION_DELETED, {"answer_id": answer_id, "user": user}
            )
        else:
            protected = await self._privacy.protect(user, change.new_text, scope=answer_id)
            event = NewEvent(
                ConversationEvents.QUESTION_EDITED,
                {"answer_id": answer_id, "user": user, "text": protected.sealed,
                 "redactions": list(protected.redactions)},
            )  # fmt: skip
        await self._store.append(stream, None, [event])
        return event.type
