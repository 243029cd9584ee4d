"""Abuse limits with a fake clock: token buckets per user and per channel on questions and
snippet runs (refused before anything is stored or run, with when to try again), and the hourly
cap on the votes one user can move (stored, marked, counted nowhere)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any, cast

import pytest

from adapters.platforms.common import run_or_explain
from adapters.privacy.pseudonyms import HmacPseudonymizer
from adapters.privacy.sealer import AesGcmSealer
from adapters.store import migrate
from adapters.store.conversations import SqlConversationLog
from adapters.store.curation_source import SqlCurationSource
from adapters.store.database import Database, create_database
from adapters.store.event_store import SqlEventStore
from adapters.store.projections import ProjectionRunner
from bot.serve.metrics import ServeMetrics
from bot.settings import Settings
from domain.answering import AnswerQuestion
from domain.conversation import Question
from domain.events import NewEvent
from domain.feedback import CAPPED_REASON, RateAnswer, Reaction, counts
from domain.inbound import InboundHandlers
from domain.language import PromptTemplate
from domain.privacy_service import Person, PrivacyService
from domain.rate_limits import (
    OFF,
    KeyedBuckets,
    Limit,
    RateLimited,
    RateLimits,
    RatingCap,
    TokenBucket,
    parse_limit,
    say_duration,
    with_rate_limits,
)
from domain.retrieval import SearchHit
from domain.snippets import RunSnippet, Snippet
from tests.fakes import (
    EchoSandbox,
    FixedClock,
    InMemoryConversationLog,
    InMemoryEventStore,
    InMemoryKeyVault,
    InMemoryMessageRefs,
    NoScrub,
    RecordingPlatform,
    ScriptedIndex,
    ScriptedModel,
    trusting_grounder,
)

ALICE = Person("slack", "T1", "U-alice")
BOB = Person("slack", "T1", "U-bob")
CAROL = Person("slack", "T1", "U-carol")
HIT = SearchHit("c1", "kb/deploy.md", "Rollback", 30, 38, "Run make rollback.", "MIT", 0.9, 0.8)
TEMPLATE = PromptTemplate("t", "Cite.", "{context}\n{history}Question: {question}\nAnswer:")
LONG_ANSWER = ["Run `make rollback ENV=production` and watch the dashboard for errors [1]."]


class FakeClock:
    """Monotonic seconds that move only when the test says so."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


# --- the token bucket ---------------------------------------------------------------------------


def test_a_bucket_allows_its_burst_then_says_how_long_until_the_next_token() -> None:
    bucket = TokenBucket(3, 0.5, now=0.0)  # 3 at once, then one every 2 s
    assert [bucket.take(0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take(0.0) == pytest.approx(2.0)
    assert bucket.take(0.5) == pytest.approx(1.5)  # a refusal takes nothing
    assert bucket.take(2.0) == 0.0
    assert bucket.take(2.0) == pytest.approx(2.0)
    assert not bucket.full(3.0)
    assert bucket.full(100.0)  # refilled to its capacity, never past it
    assert [bucket.take(100.0) for _ in range(4)][-1] == pytest.approx(2.0)


def test_a_bucket_refills_exactly_despite_floats_and_takes_a_token_back() -> None:
    bucket = TokenBucket(6, 6 / 60)  # "6/60": one every 10 s
    for _ in range(6):
        assert bucket.take(0.0) == 0.0
    assert bucket.take(0.0) == pytest.approx(10.0)
    assert bucket.take(10.0) == 0.0  # 0.1 * 10 rounds to 0.999...: still one token
    bucket.give_back(10.0)
    assert bucket.take(10.0) == 0.0
    with pytest.raises(ValueError, match="positive"):
        TokenBucket(0, 1.0)


# --- settings of a limit --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "limit"),
    [
        ("6/60", Limit(6, 60)), ("30/60", Limit(30, 60)), ("4", Limit(4, 60)),
        (" 10/3600 ", Limit(10, 3600)), ("0", OFF), ("0/60", OFF), ("5/0", OFF), ("off", OFF),
    ],
)  # fmt: skip
def test_limits_parse_as_n_per_seconds(text: str, limit: Limit) -> None:
    assert parse_limit(text) == limit


@pytest.mark.parametrize("text", ["six", "6/minute", "-1/60", "6/-60", "6/inf"])
def test_a_bad_limit_says_what_is_expected(text: str) -> None:
    with pytest.raises(ValueError, match="rate limit"):
        parse_limit(text)


@pytest.mark.parametrize(
    ("seconds", "said"),
    [
        (0.2, "1 second"), (1, "1 second"), (19.01, "20 seconds"), (59, "59 seconds"),
        (60, "a minute"), (61, "2 minutes"), (3600, "60 minutes"), (3601, "2 hours"),
    ],
)  # fmt: skip
def test_durations_are_rounded_up_and_said_in_words(seconds: float, said: str) -> None:
    assert say_duration(seconds) == said


RATE_SETTINGS = (
    "BUDDY_RATE_QUESTIONS_PER_USER", "BUDDY_RATE_QUESTIONS_PER_CHANNEL",
    "BUDDY_RATE_SNIPPETS_PER_USER", "BUDDY_RATE_SNIPPETS_PER_CHANNEL",
    "BUDDY_RATINGS_PER_USER_PER_HOUR",
)  # fmt: skip


def test_settings_have_sensible_defaults_and_refuse_a_bad_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in RATE_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    settings = Settings(_env_file=None)
    assert settings.rate_limit("rate_questions_per_user") == Limit(6, 60)
    assert settings.rate_limit("rate_questions_per_channel") == Limit(30, 60)
    assert settings.rate_limit("rate_snippets_per_user") == Limit(4, 60)
    assert settings.rate_limit("rate_snippets_per_channel") == Limit(12, 60)
    assert settings.rate_limits().enabled
    cap = settings.rating_cap()
    assert cap is not None
    assert cap.per_hour == 60
    off = Settings(
        BUDDY_RATE_QUESTIONS_PER_USER="0", BUDDY_RATE_QUESTIONS_PER_CHANNEL="0",
        BUDDY_RATE_SNIPPETS_PER_USER="0", BUDDY_RATE_SNIPPETS_PER_CHANNEL="0",
        BUDDY_RATINGS_PER_USER_PER_HOUR=0, _env_file=None,
    )  # fmt: skip
    assert not off.rate_limits().enabled
    assert off.rating_cap() is None
    with pytest.raises(ValueError, match="rate limit"):
        Settings(BUDDY_RATE_QUESTIONS_PER_USER="lots", _env_file=None)


# --- keyed limits -------------------------------------------------------------------------------


TWO_A_MINUTE, THREE_A_MINUTE = Limit(2, 60), Limit(3, 60)


def limits(
    clock: FakeClock, *, questions_per_user: Limit = TWO_A_MINUTE,
    questions_per_channel: Limit = THREE_A_MINUTE,
) -> RateLimits:  # fmt: skip
    """2 questions a minute per user, 3 per channel; 1 snippet a minute per user, 5 per
    channel."""
    return RateLimits(
        questions_per_user=questions_per_user, questions_per_channel=questions_per_channel,
        snippets_per_user=Limit(1, 60), snippets_per_channel=Limit(5, 60), clock=clock,
    )  # fmt: skip


def test_each_user_has_a_bucket_of_their_own_and_says_when_to_try_again() -> None:
    clock = FakeClock()
    rules = limits(clock)
    rules.check("question", ALICE, "C1")
    rules.check("question", ALICE, "C1")
    with pytest.raises(RateLimited) as refused:
        rules.check("question", ALICE, "C1")
    assert refused.value.retry_after_s == 30  # 2 per 60 s: one token every 30 s
    assert (refused.value.kind, refused.value.scope) == ("question", "user")
    assert str(refused.value) == (
        "You're asking faster than I can keep up: try again in 30 seconds."
    )
    rules.check("question", BOB, "C2")  # another person, another channel: unaffected
    clock.advance(30)
    rules.check("question", ALICE, "C1")  # refilled


def test_a_busy_channel_is_limited_for_everyone_in_it() -> None:
    clock = FakeClock()
    rules = limits(clock)
    rules.check("question", ALICE, "C1")
    rules.check("question", BOB, "C1")
    rules.check("question", CAROL, "C1")
    with pytest.raises(RateLimited) as refused:
        rules.check("question", Person("slack", "T1", "U-dan"), "C1")
    assert refused.value.scope == "channel"
    assert refused.value.retry_after_s == 20  # 3 per 60 s
    assert str(refused.value) == "This channel is asking a lot right now: try again in 20 seconds."
    rules.check("question", Person("slack", "T1", "U-dan"), "C2")
    # The same channel id in another workspace is another channel.
    rules.check("question", Person("slack", "T2", "U-erin"), "C1")


def test_a_refusal_by_one_bucket_takes_nothing_from_the_other() -> None:
    clock = FakeClock()
    rules = limits(clock, questions_per_user=Limit(1, 60), questions_per_channel=Limit(2, 60))
    rules.check("question", ALICE, "C1")
    for _ in range(5):  # Alice's own bucket refuses: the channel's tokens are untouched
        with pytest.raises(RateLimited):
            rules.check("question", ALICE, "C1")
    rules.check("question", BOB, "C1")  # the channel's second token is still there
    with pytest.raises(RateLimited) as refused:
        rules.check("question", CAROL, "C1")
    assert refused.value.scope == "channel"
    # Carol was refused by the channel: her own bucket still has its token.
    rules.check("question", CAROL, "C2")


def test_both_refusing_gives_the_longer_wait() -> None:
    clock = FakeClock()
    rules = limits(clock, questions_per_user=Limit(1, 60), questions_per_channel=Limit(1, 600))
    rules.check("question", ALICE, "C1")
    with pytest.raises(RateLimited) as refused:
        rules.check("question", ALICE, "C1")
    assert refused.value.scope == "channel"
    assert refused.value.retry_after_s == 600
    assert str(refused.value).endswith("try again in 10 minutes.")


def test_snippets_and_questions_have_separate_buckets_and_messages() -> None:
    clock = FakeClock()
    rules = limits(clock)
    rules.check("snippet", ALICE, "C1")
    with pytest.raises(RateLimited) as refused:
        rules.check("snippet", ALICE, "C1")
    assert str(refused.value) == "You've run a lot of snippets: try again in a minute."
    rules.check("question", ALICE, "C1")  # her questions are not spent by her snippets


def test_zero_disables_a_limit() -> None:
    clock = FakeClock()
    rules = limits(clock, questions_per_user=OFF)
    for channel in range(10):  # no limit on Alice: only each channel's
        rules.check("question", ALICE, f"C{channel}")
    nothing = RateLimits(clock=clock)
    assert not nothing.enabled
    for _ in range(100):
        nothing.check("question", ALICE, "C1")
        nothing.check("snippet", ALICE, "C1")
    assert nothing.tracked() == 0


def test_buckets_full_again_are_forgotten_so_memory_stays_bounded() -> None:
    clock = FakeClock()
    rules = limits(clock)
    for i in range(50):
        rules.check("question", Person("slack", "T1", f"U{i}"), f"C{i}")
    assert rules.tracked() == 100  # a bucket per user and per channel
    clock.advance(20)
    assert rules.forget_idle() == 50  # the channels' (3/60) are full again, not the users' yet
    clock.advance(10)
    assert rules.forget_idle() == 50  # the users' (2/60) now too
    assert rules.tracked() == 0
    # Forgetting is harmless: a forgotten bucket was full, like a new one.
    rules.check("question", ALICE, "C1")
    rules.check("question", ALICE, "C1")
    with pytest.raises(RateLimited):
        rules.check("question", ALICE, "C1")


def test_keyed_buckets_sweep_themselves_and_never_hold_more_than_their_bound() -> None:
    clock = FakeClock()
    buckets = KeyedBuckets(Limit(1, 60), max_keys=10, sweep_every=5)
    for i in range(100):
        buckets.take(i, clock())
        clock.advance(1)
        assert len(buckets) <= 10
    clock.advance(3600)
    buckets.take("late", clock())
    buckets.take("later", clock())
    buckets.take("latest", clock())
    buckets.take("last", clock())
    buckets.take("very last", clock())  # the old ones, full again, were swept
    assert len(buckets) == 5


# --- the handlers, limited ------------------------------------------------------------------


class Rig:
    """The real use cases over the in-memory fakes, limited by `rules`."""

    def __init__(
        self, rules: RateLimits, sandbox: Any = None, store: InMemoryEventStore | None = None
    ) -> None:
        self.store = store or InMemoryEventStore()
        keys = InMemoryKeyVault()
        self.privacy = PrivacyService(
            self.store, NoScrub(), HmacPseudonymizer(b"p" * 32), AesGcmSealer(keys), keys,
            FixedClock(),
        )  # fmt: skip
        index = ScriptedIndex([HIT])
        self.answerer = AnswerQuestion(
            self.store, self.privacy, index, ScriptedModel(["ok [1]."]), TEMPLATE,
            RecordingPlatform(), log=InMemoryConversationLog(self.store),
            grounder=trusting_grounder(index),
        )  # fmt: skip
        self.accepted = 0
        self.fail_next = False

        async def accept(question: Question) -> str:
            self.accepted += 1
            if self.fail_next:
                self.fail_next = False
                raise ConnectionError("the database went away")
            return await self.answerer.accept(question, "slack")

        handlers = InboundHandlers(
            accept=accept, rate=RateAnswer(self.store, self.privacy),
            run_snippet=RunSnippet(sandbox or EchoSandbox(), self.store, self.privacy),
            refs=InMemoryMessageRefs(),
        )  # fmt: skip
        self.handlers = with_rate_limits(handlers, rules, self.store.delivered)

    def types(self) -> list[str]:
        return [event.type for event in self.store.events]


def ask(text: str, event_id: str, person: Person = ALICE, channel: str = "C1") -> Question:
    return Question(person, channel, text, None, platform_event_id=event_id)


async def test_a_refused_question_is_refused_before_anything_is_stored() -> None:
    clock = FakeClock()
    rig = Rig(limits(clock))
    first = await rig.handlers.accept(ask("how do I roll back?", "Ev1"))
    await rig.handlers.accept(ask("and deploy?", "Ev2"))
    with pytest.raises(RateLimited) as refused:
        await rig.handlers.accept(ask("and staging?", "Ev3"))
    assert refused.value.retry_after_s == 30
    assert rig.accepted == 2  # the use case never saw the refused one
    assert rig.types() == ["conversation.QuestionAsked"] * 2
    assert len(rig.store.outbox) == 2  # and no reply job for it
    # A redelivery of an accepted question is not limited: the store takes it once anyway.
    assert await rig.handlers.accept(ask("how do I roll back?", "Ev1")) == first
    assert rig.types() == ["conversation.QuestionAsked"] * 2
    # The refused event was not remembered anywhere: its retry, once allowed, is stored.
    clock.advance(30)
    await rig.handlers.accept(ask("and staging?", "Ev3"))
    assert rig.types() == ["conversation.QuestionAsked"] * 3


async def test_a_retry_another_replica_stored_is_taken_even_over_the_limit() -> None:
    """Slack's retry may land on a replica whose buckets are empty for that person: the
    question is already stored (by the replica that took the first delivery), so it is not
    refused, and nothing is stored twice."""
    clock = FakeClock()
    first, second = Rig(limits(clock)), None
    second = Rig(limits(clock), store=first.store)  # two replicas, one database
    await second.handlers.accept(ask("one", "Ev1"))
    await second.handlers.accept(ask("two", "Ev2"))  # the second replica's buckets are empty
    stored = await first.handlers.accept(ask("three", "Ev3"))  # the first replica takes it
    assert await second.handlers.accept(ask("three", "Ev3")) == stored  # Slack's retry
    with pytest.raises(RateLimited):
        await second.handlers.accept(ask("four", "Ev4"))  # a new question is still limited
    assert first.types() == ["conversation.QuestionAsked"] * 3


async def test_a_question_that_could_not_be_stored_costs_no_token() -> None:
    clock = FakeClock()
    rig = Rig(limits(clock, questions_per_user=Limit(1, 60)))
    rig.fail_next = True
    with pytest.raises(ConnectionError):
        await rig.handlers.accept(ask("how do I roll back?", "Ev1"))
    await rig.handlers.accept(ask("how do I roll back?", "Ev1"))  # the platform's retry
    assert rig.types() == ["conversation.QuestionAsked"]


async def test_snippet_runs_are_limited_and_the_refusal_reads_well() -> None:
    clock = FakeClock()
    rig = Rig(limits(clock))
    ran = await rig.handlers.run_snippet(Snippet(ALICE, "C1", "python", "print(1)"))
    assert ran.result is not None
    with pytest.raises(RateLimited):
        await rig.handlers.run_snippet(Snippet(ALICE, "C1", "python", "print(2)"))
    reply = await run_or_explain(rig.handlers, Snippet(ALICE, "C1", "python", "print(3)"))
    assert reply.text == "You've run a lot of snippets: try again in a minute."
    assert reply.busy
    assert reply.result is None
    assert rig.types() == ["sandbox.SnippetRun"]  # only the run that happened
    clock.advance(60)
    assert (await rig.handlers.run_snippet(Snippet(ALICE, "C1", "python", "4"))).result


async def test_a_snippet_that_did_not_run_costs_no_token() -> None:
    clock = FakeClock()
    rig = Rig(limits(clock))
    too_long = await rig.handlers.run_snippet(Snippet(ALICE, "C1", "python", "x" * 100_000))
    assert too_long.result is None
    assert (await rig.handlers.run_snippet(Snippet(ALICE, "C1", "python", "1"))).result


def test_no_limits_leave_the_handlers_as_they_are() -> None:
    async def never(*_args: Any) -> Any:
        raise AssertionError("not called")

    handlers = InboundHandlers(
        accept=never, rate=never, run_snippet=never, refs=InMemoryMessageRefs()
    )
    assert with_rate_limits(handlers, RateLimits()) is handlers


# --- the rating cap ---------------------------------------------------------------------------


def test_the_cap_keeps_a_rolling_hour_per_user() -> None:
    clock = FakeClock()
    cap = RatingCap(2, clock=clock)
    first = cap.take("bob")
    clock.advance(1000)
    assert cap.take("bob") is not None
    assert cap.take("bob") is None  # the third in the hour
    assert cap.take("alice") is not None  # others have their own
    clock.advance(2600)  # an hour after the first
    assert cap.take("bob") is not None
    assert cap.take("bob") is None
    cap.give_back("bob", first)  # long gone from the window: harmless
    clock.advance(7200)
    assert cap.forget_idle() == 2
    assert cap.tracked() == 0
    assert RatingCap(0).take("anyone") is not None  # 0: no cap


@pytest.fixture
async def db(sqlite_url: str) -> AsyncIterator[Database]:
    database = create_database(sqlite_url)
    await migrate.upgrade(database)
    yield database
    await database.dispose()


class RatedWorld:
    """A SQL store with answered questions, a rater under a cap of 2 an hour, and the readers
    every rating goes to: the stats projection (stats, leaderboard, rollback) and curation."""

    def __init__(self, db: Database, clock: FakeClock) -> None:
        self.db = db
        self.store = SqlEventStore(db)
        keys = InMemoryKeyVault()
        self.privacy = PrivacyService(
            self.store, NoScrub(), HmacPseudonymizer(b"p" * 32), AesGcmSealer(keys), keys,
            FixedClock(),
        )  # fmt: skip
        self.runner = ProjectionRunner(db, self.store)
        self.log = SqlConversationLog(db, self.runner)
        index = ScriptedIndex([HIT])
        self.answerer = AnswerQuestion(
            self.store, self.privacy, index, ScriptedModel(LONG_ANSWER), TEMPLATE,
            RecordingPlatform(), log=self.log, grounder=trusting_grounder(index),
        )  # fmt: skip
        self.rate = RateAnswer(self.store, self.privacy, cap=RatingCap(2, clock=clock))

    async def answers(self, count: int) -> list[str]:
        return [
            (await self.answerer(Question(ALICE, "C1", f"how do I roll back {i}?"))).answer_id
            for i in range(count)
        ]

    async def curated_votes(self) -> dict[str, dict[str, int]]:
        source = SqlCurationSource(self.db, self.store, self.runner)
        return {item.answer_id: item.votes for item in await source.interactions()}


async def test_votes_over_the_hourly_cap_are_stored_but_counted_nowhere(db: Database) -> None:
    clock = FakeClock()
    world = RatedWorld(db, clock)
    a1, a2, a3 = await world.answers(3)
    outcomes = [await world.rate(Reaction(BOB, answer, "👍")) for answer in (a1, a2, a3)]
    assert [o.capped for o in outcomes] == [False, False, True]
    assert outcomes[2].recorded == "feedback.RatingGiven"  # stored: nothing is lost
    assert outcomes[2].reason == CAPPED_REASON
    given = await world.store.read_all(0, types=["feedback.RatingGiven"])
    assert [counts(e.payload) for e in given] == [True, True, False]
    assert given[2].payload["capped"] is True

    stats = await world.log.stats()
    assert (stats.positive, stats.rated_answers) == (2, 2)
    [model] = stats.models  # the leaderboard's and automatic rollback's figures
    assert (model.positive, model.negative) == (2, 0)
    votes = await world.curated_votes()
    assert votes[a3] == {}  # the curator does not see it either

    # An hour later the cap has room again: the same vote, given again, counts.
    clock.advance(3600)
    assert (await world.rate(Reaction(BOB, a3, "👍", removed=True))).recorded
    again = await world.rate(Reaction(BOB, a3, "👍"))
    assert (again.capped, again.reason) == (False, "positive")
    assert (await world.log.stats()).positive == 3
    assert len((await world.curated_votes())[a3]) == 1

    # A rebuilt projection reads the stored events the same way.
    before = await world.log.stats()
    await world.runner.rebuild(world.log.projection)
    assert await world.log.stats() == before


async def test_a_capped_vote_replacing_a_counted_one_takes_it_out(db: Database) -> None:
    clock = FakeClock()
    world = RatedWorld(db, clock)
    a1, a2 = await world.answers(2)
    await world.rate(Reaction(BOB, a1, "👍"))
    await world.rate(Reaction(BOB, a2, "👍"))
    changed = await world.rate(Reaction(BOB, a1, "👎"))  # her latest vote, over the cap
    assert changed.capped
    stats = await world.log.stats()
    # Neither counts now: not the capped 👎, nor the 👍 it replaced (as if retracted).
    assert (stats.positive, stats.negative) == (1, 0)
    # Others' votes are not touched, and retracting is never capped.
    assert not (await world.rate(Reaction(CAROL, a1, "👎"))).capped
    assert (await world.rate(Reaction(BOB, a2, "👍", removed=True))).recorded
    stats = await world.log.stats()
    assert (stats.positive, stats.negative) == (0, 1)


async def test_only_votes_that_count_take_a_place_in_the_hour() -> None:
    clock = FakeClock()
    store = InMemoryEventStore()
    keys = InMemoryKeyVault()
    privacy = PrivacyService(store, NoScrub(), HmacPseudonymizer(b"p" * 32), AesGcmSealer(keys),
                             keys, FixedClock())  # fmt: skip
    index = ScriptedIndex([HIT])
    answerer = AnswerQuestion(
        store, privacy, index, ScriptedModel(["ok [1]."]), TEMPLATE, RecordingPlatform(),
        log=InMemoryConversationLog(store), grounder=trusting_grounder(index),
    )  # fmt: skip
    cap = RatingCap(2, clock=clock)
    rate = RateAnswer(store, privacy, cap=cap)
    a1 = (await answerer(Question(ALICE, "C1", "one?"))).answer_id
    a2 = (await answerer(Question(ALICE, "C1", "two?"))).answer_id
    redelivered = Reaction(BOB, a1, "👍", platform_event_id="Ev-r1")
    assert (await rate(redelivered)).reason == "positive"
    await rate(redelivered)  # the same platform event again: stored once, counted once
    assert (await rate(Reaction(BOB, a1, "+1"))).reason == "already counted"
    assert (await rate(Reaction(BOB, "no-such-answer", "👍"))).recorded is None
    assert (await rate(Reaction(BOB, a1, "🎉"))).recorded is None
    assert (await rate(Reaction(BOB, a1, "👍", removed=True))).recorded  # retractions are free
    assert not (await rate(Reaction(BOB, a2, "👍"))).capped  # the second place in the hour
    assert (await rate(Reaction(BOB, a1, "👍"))).capped  # the third counted vote would not be
    given = [e for e in store.events if e.type == "feedback.RatingGiven"]
    assert [e.payload["capped"] for e in given] == [False, False, True]


async def test_metrics_count_capped_votes_apart() -> None:
    store = InMemoryEventStore()

    async def served_model() -> Any:
        return SimpleNamespace(model_version="v1")

    outbox = SimpleNamespace(pending=_no_pending)
    services = SimpleNamespace(store=store, outbox=outbox, served_model=served_model)
    metrics = ServeMetrics(cast(Any, services))
    await metrics.start()
    base = {"answer_id": "a1", "user": "u", "value": 1, "by_asker": False}
    await store.append("conversation-a1", None, [
        NewEvent("feedback.RatingGiven", base),  # stored before caps existed: it counts
        NewEvent("feedback.RatingGiven", {**base, "user": "v", "capped": False}),
        NewEvent("feedback.RatingGiven", {**base, "user": "w", "capped": True}),
    ])  # fmt: skip
    text = (await metrics.exposition()).decode()
    assert 'buddy_ratings_total{model_version="unknown",value="1"} 2.0' in text
    assert "buddy_ratings_capped_total 1.0" in text


async def _no_pending(limit: int = 100) -> list[Any]:
    return []


async def test_a_snippet_reply_for_other_errors_is_unchanged() -> None:
    from domain.errors import ConfigurationError

    async def broken(*_args: Any) -> Any:
        raise ConfigurationError("no sandbox here")

    handlers = InboundHandlers(
        accept=broken, rate=broken, run_snippet=broken, refs=InMemoryMessageRefs()
    )
    reply = await run_or_explain(handlers, Snippet(ALICE, "C1", "python", "1"))
    assert reply.text == "I couldn't run that: no sandbox here"
    assert not reply.busy
