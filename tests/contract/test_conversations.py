"""The conversations projection on both backends: threads for follow-ups, votes, and stats."""

from __future__ import annotations

import asyncio

from adapters.privacy.pseudonyms import HmacPseudonymizer
from adapters.privacy.sealer import AesGcmSealer
from adapters.store.conversations import ConversationStats, SqlConversationLog
from adapters.store.database import Database
from adapters.store.event_store import SqlEventStore
from adapters.store.projections import ProjectionRunner
from domain.answering import AnswerQuestion
from domain.conversation import Question
from domain.errors import ModelUnavailable
from domain.feedback import RateAnswer, Reaction
from domain.language import PromptTemplate
from domain.privacy_service import Person, PrivacyService
from domain.retrieval import SearchHit
from tests.fakes import (
    FixedClock,
    InMemoryKeyVault,
    NoScrub,
    RecordingPlatform,
    ScriptedIndex,
    ScriptedModel,
    trusting_grounder,
)

HIT = SearchHit("c1", "kb/deploy.md", "Rollback", 30, 38, "Run make rollback.", "MIT", 0.9, 0.8)
TEMPLATE = PromptTemplate("t", "Cite.", "{context}\n{history}Question: {question}\nAnswer:")
ALICE = Person("local", "default", "alice")


def privacy_for(store: SqlEventStore) -> PrivacyService:
    keys = InMemoryKeyVault()
    return PrivacyService(
        store, NoScrub(), HmacPseudonymizer(b"p" * 32), AesGcmSealer(keys), keys, FixedClock()
    )


def answerer(
    store: SqlEventStore, privacy: PrivacyService, log: SqlConversationLog, model: ScriptedModel
) -> AnswerQuestion:
    index = ScriptedIndex([HIT])
    return AnswerQuestion(
        store, privacy, index, model, TEMPLATE, RecordingPlatform(), log=log,
        grounder=trusting_grounder(index),
    )  # fmt: skip


async def test_threads_votes_and_stats_follow_the_events(
    db: Database, store: SqlEventStore
) -> None:
    privacy, log = privacy_for(store), SqlConversationLog(db, ProjectionRunner(db, store))
    ok = ScriptedModel(["Run make rollback [1]."])
    ask = answerer(store, privacy, log, ok)
    first = await ask(Question(ALICE, "general", "how do I roll back?"))
    follow = await ask(Question(ALICE, "general", "and staging?", first.answer_id))
    other = await ask(Question(ALICE, "general", "unrelated"))
    broken = answerer(store, privacy, log, ScriptedModel([], error=ModelUnavailable("down")))
    failed = await broken(Question(ALICE, "general", "anyone there?"))
    assert "how do I roll back?" in ok.requests[1].messages[1].content

    rate = RateAnswer(store, privacy)
    voters = [Person("local", "default", f"u{i}") for i in range(6)]
    await asyncio.gather(*(rate(Reaction(p, first.answer_id, "👍")) for p in voters))
    await rate(Reaction(ALICE, follow.answer_id, "👎"))
    await rate(Reaction(voters[0], first.answer_id, "👍", removed=True))

    thread = await log.thread(
        _thread_of(await store.read_stream(f"conversation-{first.answer_id}")), 5
    )
    assert [e.answer_id for e in thread] == [first.answer_id, follow.answer_id]
    assert await log.thread_root(follow.answer_id) == first.answer_id
    assert await log.thread_root(other.answer_id) == other.answer_id

    stats = await log.stats()
    assert (stats.questions, stats.follow_ups, stats.answers, stats.failures) == (4, 1, 3, 1)
    assert stats.modes == {"generated": 3}
    assert (stats.positive, stats.negative, stats.asker_votes) == (5, 1, 1)
    assert stats.rated_answers == 2
    assert abs(stats.feedback_rate - 2 / 3) < 1e-9
    [model] = stats.models
    assert (model.model_version, model.answers, model.failures) == ("scripted:1", 3, 1)
    assert (model.positive, model.negative) == (5, 1)
    assert failed.failed

    await ProjectionRunner(db, store).rebuild(log.projection)
    assert await log.stats() == stats


async def test_an_empty_store_has_zero_stats(db: Database, store: SqlEventStore) -> None:
    stats = await SqlConversationLog(db, ProjectionRunner(db, store)).stats()
    assert stats == ConversationStats()
    assert stats.feedback_rate == 0.0


def _thread_of(events: list) -> str:  # type: ignore[type-arg]
    return str(events[0].payload["thread"])


async def test_twenty_questions_at_once_are_all_answered_and_each_stored_once(
    db: Database, store: SqlEventStore
) -> None:
    privacy, log = privacy_for(store), SqlConversationLog(db, ProjectionRunner(db, store))
    platform = RecordingPlatform()
    ask = AnswerQuestion(
        store, privacy, ScriptedIndex([HIT]), ScriptedModel(["ok"], delay_s=0.01), TEMPLATE,
        platform, log=log,
    )  # fmt: skip
    people = [Person("slack", "T1", f"U{i}") for i in range(20)]
    questions = [
        Question(p, "C1", f"question {i}", f"ts{i}", f"Ev{i}") for i, p in enumerate(people)
    ]
    answers = await asyncio.gather(*(ask(q) for q in questions))
    again = await ask(questions[0])  # a redelivered platform event
    assert not any(a.failed for a in answers)
    assert len({a.answer_id for a in answers}) == 20
    assert again.answer_id == answers[0].answer_id
    stats = await log.stats()
    assert (stats.questions, stats.answers) == (20, 20)
    assert len(platform.sent) == 21


async def test_the_curator_reads_answers_votes_consent_and_sources(
    db: Database, store: SqlEventStore
) -> None:
    from adapters.store.curation_source import SqlCurationSource
    from domain.curation import CurateDataset
    from tests.fakes import HashingEmbedder

    privacy, runner = privacy_for(store), ProjectionRunner(db, store)
    long_answer = ["Run `make rollback ENV=production` and watch the dashboard [1]."]
    ask = answerer(store, privacy, SqlConversationLog(db, runner), ScriptedModel(long_answer))
    rate = RateAnswer(store, privacy)
    bob = Person("local", "default", "bob")
    liked = await ask(Question(ALICE, "general", "how do I roll back prod?"))
    opted = await ask(Question(bob, "general", "how do I roll back staging?"))
    unrated = await ask(Question(ALICE, "general", "what is on call?"))
    await rate(Reaction(ALICE, liked.answer_id, "👍"))
    await rate(Reaction(bob, opted.answer_id, "👍"))
    await privacy.opt_out(bob)
    assert unrated.answer_id

    source = SqlCurationSource(db, store, runner)
    dataset = await CurateDataset(source, privacy, HashingEmbedder(), store)()

    [example] = dataset.train + dataset.eval
    assert example["meta"]["answer_id"] == liked.answer_id
    assert example["meta"]["sources"][0]["path"] == "kb/deploy.md"
    assert example["messages"][1]["content"] == "how do I roll back prod?"
    assert dataset.dropped == {"consent": 1, "not_positive": 1}
