"""The answer path over fakes of our own ports: lineage, failures, and always a reply."""

from __future__ import annotations

import asyncio

import pytest

from adapters.privacy.pseudonyms import HmacPseudonymizer
from adapters.privacy.sealer import AesGcmSealer
from domain.answering import NOTHING_FOUND, AnsweringSettings, AnswerQuestion
from domain.conversation import Question
from domain.errors import ModelUnavailable
from domain.language import PromptTemplate
from domain.privacy_service import Person, PrivacyService
from domain.retrieval import SearchHit
from tests.fakes import (
    FixedClock,
    InMemoryEventStore,
    InMemoryKeyVault,
    NoScrub,
    RecordingPlatform,
    ScriptedIndex,
    ScriptedModel,
)

TEMPLATE = PromptTemplate("answer-test", "Cite passages.", "{context}\n\nQuestion: {question}")
ALICE = Person("local", "default", "alice")
ROLLBACK = SearchHit(
    "c1", "kb/deploy.md", "Rollback", 30, 38, "Run make rollback.", "MIT", 0.9, 0.8
)
WEAK = SearchHit("c2", "kb/other.md", "", 1, 2, "Unrelated.", "MIT", 0.1, 0.05)


@pytest.fixture
def store() -> InMemoryEventStore:
    return InMemoryEventStore()


@pytest.fixture
def privacy(store: InMemoryEventStore) -> PrivacyService:
    keys, clock = InMemoryKeyVault(), FixedClock()
    return PrivacyService(
        store, NoScrub(), HmacPseudonymizer(b"p" * 32), AesGcmSealer(keys), keys, clock
    )


def answerer(
    store: InMemoryEventStore, privacy: PrivacyService, model: ScriptedModel,
    hits: list[SearchHit], platform: RecordingPlatform, **settings: float,
) -> AnswerQuestion:  # fmt: skip
    return AnswerQuestion(
        store, privacy, ScriptedIndex(hits), model, TEMPLATE, platform,
        AnsweringSettings(**settings),  # type: ignore[arg-type]
    )  # fmt: skip


async def test_an_answer_is_stored_with_its_full_lineage_and_sent(
    store: InMemoryEventStore, privacy: PrivacyService
) -> None:
    platform, model = RecordingPlatform(), ScriptedModel(["Run ", "make rollback", " [1]."])
    ask = answerer(store, privacy, model, [ROLLBACK, WEAK], platform)

    answer = await ask(Question(ALICE, "general", "how to roll back? pw hunter2", "t1", "Ev1"))

    assert answer.text == "Run make rollback [1]."
    assert [s.path for s in answer.sources] == ["kb/deploy.md"]
    assert platform.sent == [("general", "t1", answer)]
    asked, given = store.events
    assert asked.type == "conversation.QuestionAsked"
    assert "hunter2" not in str(asked.payload)
    assert await privacy.reveal(asked.payload["user"], asked.payload["text"]) == (
        "how to roll back? pw <SECRET>"
    )
    assert given.type == "conversation.AnswerGiven"
    lineage = given.payload
    assert lineage["model_version"] == "scripted:1"
    assert lineage["prompt_version"] == "answer-test"
    assert lineage["adapter_hash"] is None
    assert lineage["chunks"] == [{"chunk_id": "c1", "score": 0.9}]
    assert (lineage["prompt_tokens"], lineage["completion_tokens"]) == (17, 3)
    assert lineage["latency_ms"] >= 0
    assert await privacy.reveal(asked.payload["user"], lineage["text"]) == answer.text
    assert "Run make rollback." in model.requests[0].messages[1].content  # the passage went in


async def test_nothing_relevant_means_no_guess(
    store: InMemoryEventStore, privacy: PrivacyService
) -> None:
    platform, model = RecordingPlatform(), ScriptedModel(["made up"])
    answer = await answerer(store, privacy, model, [WEAK], platform)(
        Question(ALICE, "general", "what is the meaning of life?")
    )
    assert answer.text == NOTHING_FOUND
    assert model.requests == []
    assert store.events[-1].payload["chunks"] == []


@pytest.mark.parametrize(
    ("model", "reason"),
    [
        (ScriptedModel(["half"], error=ModelUnavailable("no server")), "not available"),
        (ScriptedModel(["slow"] * 10, delay_s=0.2), "took too long"),
    ],
)
async def test_a_failure_is_stored_and_the_asker_still_gets_a_reply(
    store: InMemoryEventStore, privacy: PrivacyService, model: ScriptedModel, reason: str
) -> None:
    platform = RecordingPlatform()
    ask = answerer(store, privacy, model, [ROLLBACK], platform, timeout_s=0.3)
    answer = await ask(Question(ALICE, "general", "how to roll back?"))
    assert answer.failed
    assert reason in answer.text
    assert [e.type for e in store.events] == [
        "conversation.QuestionAsked",
        "conversation.AnswerFailed",
    ]
    assert platform.sent[0][2] is answer


async def test_twenty_questions_at_once_are_each_stored_once_and_answered(
    store: InMemoryEventStore, privacy: PrivacyService
) -> None:
    platform = RecordingPlatform()
    ask = answerer(store, privacy, ScriptedModel(["ok"], delay_s=0.01), [ROLLBACK], platform)
    questions = [Question(ALICE, "general", f"question {i}", None, f"Ev{i}") for i in range(20)]
    answers = await asyncio.gather(*(ask(q) for q in questions))
    assert len({a.answer_id for a in answers}) == 20
    types = [e.type for e in store.events]
    assert types.count("conversation.QuestionAsked") == 20
    assert types.count("conversation.AnswerGiven") == 20
    assert len(platform.sent) == 20


async def test_only_passages_that_fit_the_window_are_cited(
    store: InMemoryEventStore, privacy: PrivacyService
) -> None:
    long_same_file = SearchHit(
        "c3", "kb/deploy.md", "Appendix", 90, 400, "word " * 400, "MIT", 0.8, 0.7
    )
    platform, model = RecordingPlatform(), ScriptedModel(["Run make rollback [1]."])
    ask = answerer(store, privacy, model, [ROLLBACK, long_same_file], platform, budget_tokens=80)
    answer = await ask(Question(ALICE, "general", "how to roll back?"))
    assert [(s.reference, s.lines) for s in answer.sources] == [(1, (30, 38))]
    assert store.events[-1].payload["chunks"] == [{"chunk_id": "c1", "score": 0.9}]
