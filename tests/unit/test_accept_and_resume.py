"""Ack fast, answer later: an accepted question is stored with its reply job; the worker answers
it, after a crash too, and a redelivered question is stored and answered once."""

from __future__ import annotations

import asyncio

from adapters.privacy.pseudonyms import HmacPseudonymizer
from adapters.privacy.sealer import AesGcmSealer
from bot.serve.worker import AnswerWorker
from domain.answering import AnswerQuestion
from domain.conversation import Question
from domain.language import PromptTemplate
from domain.privacy_service import Person, PrivacyService
from domain.retrieval import SearchHit
from tests.fakes import (
    FixedClock,
    InMemoryConversationLog,
    InMemoryEventStore,
    InMemoryKeyVault,
    InMemoryOutbox,
    NoScrub,
    RecordingPlatform,
    ScriptedIndex,
    ScriptedModel,
)

HIT = SearchHit("c1", "kb/deploy.md", "Rollback", 30, 38, "Run make rollback.", "MIT", 0.9, 0.8)
TEMPLATE = PromptTemplate("t", "Cite.", "{context}\n{history}Question: {question}\nAnswer:")
ALICE = Person("slack", "T1", "U-alice")


class Bot:
    """One process: its platform, model and answerer over a store that outlives it."""

    def __init__(
        self, store: InMemoryEventStore, privacy: PrivacyService, model: ScriptedModel,
        platform: RecordingPlatform | None = None,
    ) -> None:  # fmt: skip
        self.platform = platform or RecordingPlatform()
        self.model = model
        self.answerer = AnswerQuestion(
            store, privacy, ScriptedIndex([HIT]), model, TEMPLATE, self.platform,
            log=InMemoryConversationLog(store),
        )  # fmt: skip


def privacy_for(store: InMemoryEventStore) -> tuple[PrivacyService, InMemoryKeyVault]:
    keys = InMemoryKeyVault()
    privacy = PrivacyService(
        store, NoScrub(), HmacPseudonymizer(b"p" * 32), AesGcmSealer(keys), keys, FixedClock()
    )
    return privacy, keys


async def test_accept_stores_the_question_and_its_job_and_nothing_else() -> None:
    store = InMemoryEventStore()
    privacy, _ = privacy_for(store)
    bot = Bot(store, privacy, ScriptedModel(["ok"]))
    question = Question(ALICE, "C1", "how to roll back?", "1700.1", "Ev1")
    answer_id = await bot.answerer.accept(question, "slack")
    assert await bot.answerer.accept(question, "slack") == answer_id  # a Slack retry
    assert [e.type for e in store.events] == ["conversation.QuestionAsked"]
    [job] = store.outbox
    assert job.destination == "slack"
    assert job.payload == {"job": "answer", "answer_id": answer_id, "channel_id": "C1",
                           "thread_id": "1700.1"}  # fmt: skip
    assert bot.model.requests == []
    assert bot.platform.sent == []


async def test_the_worker_answers_an_accepted_question_once() -> None:
    store = InMemoryEventStore()
    privacy, _ = privacy_for(store)
    bot = Bot(store, privacy, ScriptedModel(["Run make rollback [1]."]))
    outbox = InMemoryOutbox(store)
    worker = AnswerWorker(outbox, {"slack": bot.answerer})
    await bot.answerer.accept(Question(ALICE, "C1", "how to roll back?", "1700.1", "Ev1"), "slack")
    assert await worker.run_once() == 1
    assert await worker.run_once() == 0  # running: not started twice
    await worker.drain()
    assert await outbox.pending() == []
    [(channel, thread, answer)] = bot.platform.sent
    assert (channel, thread, answer.text) == ("C1", "1700.1", "Run make rollback [1].")
    assert [s.path for s in answer.sources] == ["kb/deploy.md"]


async def test_a_crash_between_storing_and_replying_loses_nothing() -> None:
    store = InMemoryEventStore()
    privacy, _ = privacy_for(store)
    first = Bot(store, privacy, ScriptedModel(["never"], delay_s=10))
    await first.answerer.accept(
        Question(ALICE, "C1", "how to roll back?", "1700.1", "Ev1"), "slack"
    )
    crashed = AnswerWorker(InMemoryOutbox(store), {"slack": first.answerer})
    await crashed.run_once()
    await asyncio.sleep(0.01)
    assert await crashed.drain(timeout_s=0.01) == 1  # killed mid-generation

    restarted = Bot(store, privacy, ScriptedModel(["Run make rollback."]))
    worker = AnswerWorker(InMemoryOutbox(store), {"slack": restarted.answerer})
    await worker.run_once()
    await worker.drain()
    assert [a.text for _, _, a in restarted.platform.sent] == ["Run make rollback."]
    types = [e.type for e in store.events]
    assert types == ["conversation.QuestionAsked", "conversation.AnswerGiven"]


async def test_an_answer_stored_before_the_crash_is_sent_not_generated_again() -> None:
    store = InMemoryEventStore()
    privacy, _ = privacy_for(store)
    first = Bot(store, privacy, ScriptedModel(["Run make rollback [1]."]))
    await first.answerer.accept(Question(ALICE, "C1", "how to roll back?", "T", "Ev1"), "slack")
    [job] = store.outbox
    await first.answerer.resume(dict(job.payload))  # answered, then "crashed" before mark_sent

    restarted = Bot(store, privacy, ScriptedModel(["a different answer"]))
    resent = await restarted.answerer.resume(dict(job.payload))
    assert resent is not None
    assert resent.text == "Run make rollback [1]."
    assert [s.path for s in resent.sources] == ["kb/deploy.md"]
    assert restarted.model.requests == []
    assert [e.type for e in store.events].count("conversation.AnswerGiven") == 1


async def test_an_erased_askers_pending_question_gets_no_reply() -> None:
    store = InMemoryEventStore()
    privacy, _ = privacy_for(store)
    bot = Bot(store, privacy, ScriptedModel(["ok"]))
    await bot.answerer.accept(Question(ALICE, "C1", "secret question", None, "Ev1"), "slack")
    await privacy.forget(ALICE)
    [job] = store.outbox
    assert await bot.answerer.resume(dict(job.payload)) is None
    assert bot.platform.sent == []


async def test_a_failing_job_is_retried_then_given_up() -> None:
    class BrokenPlatform(RecordingPlatform):
        async def send(self, channel_id: str, thread_id: str | None, answer: object) -> None:
            raise ConnectionError("slack is down")

    store = InMemoryEventStore()
    privacy, _ = privacy_for(store)
    bot = Bot(store, privacy, ScriptedModel(["ok"]), BrokenPlatform())
    outbox = InMemoryOutbox(store)
    worker = AnswerWorker(outbox, {"slack": bot.answerer}, max_attempts=2)
    await bot.answerer.accept(Question(ALICE, "C1", "q", None, "Ev1"), "slack")
    for _ in range(3):
        await worker.run_once()
        await worker.drain()
    assert outbox.attempts == {1: 2}
    assert len(await outbox.pending()) == 1  # kept, not lost: visible to operators
