"""Edited and deleted questions: an edit is stored sealed, a deletion shreds the conversation's
key (question and answer) and nothing else of the user's day."""

from __future__ import annotations

from adapters.privacy.pseudonyms import HmacPseudonymizer
from adapters.privacy.sealer import AesGcmSealer
from domain.answering import AnswerQuestion
from domain.conversation import Question
from domain.language import PromptTemplate
from domain.privacy_service import Person, PrivacyService
from domain.question_changes import ChangeQuestion, QuestionChange
from domain.retrieval import SearchHit
from tests.fakes import (
    FixedClock,
    InMemoryEventStore,
    InMemoryKeyVault,
    NoScrub,
    RecordingPlatform,
    ScriptedIndex,
    ScriptedModel,
    trusting_grounder,
)

HIT = SearchHit("c1", "kb/deploy.md", "Rollback", 30, 38, "Run make rollback.", "MIT", 0.9, 0.8)
TEMPLATE = PromptTemplate("t", "Cite.", "{context}\nQuestion: {question}\nAnswer:")
ALICE = Person("slack", "T1", "U-alice")


class Rig:
    def __init__(self) -> None:
        self.store, self.keys, self.clock = InMemoryEventStore(), InMemoryKeyVault(), FixedClock()
        self.privacy = PrivacyService(
            self.store, NoScrub(), HmacPseudonymizer(b"p" * 32), AesGcmSealer(self.keys),
            self.keys, self.clock,
        )  # fmt: skip
        index = ScriptedIndex([HIT])
        self.ask = AnswerQuestion(
            self.store, self.privacy, index, ScriptedModel(["Run it."]), TEMPLATE,
            RecordingPlatform(), grounder=trusting_grounder(index),
        )  # fmt: skip
        self.change = ChangeQuestion(self.store, self.privacy)

    def texts(self, answer_id: str) -> list[str]:
        return [
            e.payload["text"]
            for e in self.store.events
            if e.stream_id == f"conversation-{answer_id}" and "text" in e.payload
        ]

    async def readable(self, answer_id: str) -> list[str | None]:
        asked = next(e for e in self.store.events if e.payload.get("answer_id") == answer_id)
        owner = asked.payload["user"]
        return [await self.privacy.reveal(owner, text) for text in self.texts(answer_id)]


async def test_deleting_a_question_shreds_it_and_its_answer_but_nothing_else() -> None:
    rig = Rig()
    doomed = await rig.ask(Question(ALICE, "C1", "how do I roll back?", None, "slack:C1:1.0"))
    kept = await rig.ask(Question(ALICE, "C1", "and staging?", None, "slack:C1:2.0"))
    assert await rig.readable(doomed.answer_id) == ["how do I roll back?", "Run it."]

    recorded = await rig.change(QuestionChange("slack:C1:1.0"))

    assert recorded == "conversation.QuestionDeleted"
    assert await rig.readable(doomed.answer_id) == [None, None]
    assert await rig.readable(kept.answer_id) == ["and staging?", "Run it."]
    owner = rig.store.events[0].payload["user"]
    assert rig.store.events[-1].payload == {"answer_id": doomed.answer_id, "user": owner}


async def test_an_edit_is_stored_sealed_in_the_conversations_scope() -> None:
    rig = Rig()
    answer = await rig.ask(Question(ALICE, "C1", "how do I rolback?", None, "slack:C1:1.0"))
    assert await rig.change(QuestionChange("slack:C1:1.0", "how do I roll back?"))
    edited = rig.store.events[-1]
    assert edited.type == "conversation.QuestionEdited"
    assert "roll back" not in edited.payload["text"]
    assert await rig.readable(answer.answer_id) == [
        "how do I rolback?",
        "Run it.",
        "how do I roll back?",
    ]
    await rig.change(QuestionChange("slack:C1:1.0"))  # deleting shreds the edit too
    assert await rig.readable(answer.answer_id) == [None, None, None]


async def test_changes_to_messages_that_were_not_questions_are_ignored() -> None:
    rig = Rig()
    assert await rig.change(QuestionChange("slack:C1:9.9")) is None
    assert rig.store.events == []


async def test_retention_still_shreds_scoped_keys_of_old_days() -> None:
    rig = Rig()
    old = await rig.ask(Question(ALICE, "C1", "old question", None, "slack:C1:1.0"))
    rig.clock.advance(days=10)
    new = await rig.ask(Question(ALICE, "C1", "new question", None, "slack:C1:2.0"))
    await rig.privacy.shred_expired(retention_days=5)
    assert await rig.readable(old.answer_id) == [None, None]
    assert await rig.readable(new.answer_id) == ["new question", "Run it."]
