"""Ratings from reactions: one vote per user per answer, the latest wins, the asker flagged;
reactions on non-answers and the bot's own never count."""

from __future__ import annotations

import asyncio

import pytest

from adapters.privacy.pseudonyms import HmacPseudonymizer
from adapters.privacy.sealer import AesGcmSealer
from domain.answering import AnswerQuestion
from domain.conversation import Answer, Question
from domain.errors import ModelUnavailable
from domain.feedback import NOT_AN_ANSWER, RateAnswer, Reaction, rating_value
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

ALICE = Person("slack", "T1", "U-alice")
BOB = Person("slack", "T1", "U-bob")
HIT = SearchHit("c1", "kb/deploy.md", "Rollback", 30, 38, "Run make rollback.", "MIT", 0.9, 0.8)
TEMPLATE = PromptTemplate("answer-test", "Cite.", "{context}\n\nQuestion: {question}")


@pytest.mark.parametrize(
    ("emoji", "value"),
    [
        ("👍", 1), ("+1", 1), (":+1:", 1), ("thumbsup::skin-tone-3", 1), ("👍🏽", 1),
        ("✅", 1), ("white_check_mark", 1), ("✔️", 1),
        ("👎", -1), ("-1", -1), (":thumbsdown:", -1), ("❌", -1), ("x", -1),
        ("eyes", None), ("🎉", None), ("", None), ("▶️", None),
    ],
)  # fmt: skip
def test_emoji_map_to_ratings(emoji: str, value: int | None) -> None:
    assert rating_value(emoji) == value


class Rig:
    def __init__(self) -> None:
        self.store = InMemoryEventStore()
        keys = InMemoryKeyVault()
        self.privacy = PrivacyService(
            self.store, NoScrub(), HmacPseudonymizer(b"p" * 32), AesGcmSealer(keys), keys,
            FixedClock(),
        )  # fmt: skip
        self.rate = RateAnswer(self.store, self.privacy)

    async def answer(self, model: ScriptedModel | None = None) -> Answer:
        ask = AnswerQuestion(
            self.store, self.privacy, ScriptedIndex([HIT]), model or ScriptedModel(["ok"]),
            TEMPLATE, RecordingPlatform(),
        )  # fmt: skip
        return await ask(Question(ALICE, "C1", "how to roll back?"))

    def votes(self) -> list[tuple[str, int, bool]]:
        return [
            (e.type.split(".")[1], e.payload["value"], e.payload["by_asker"])
            for e in self.store.events
            if e.type.startswith("feedback.")
        ]


async def test_add_change_and_remove_keep_one_vote_per_user_the_latest_winning() -> None:
    rig = Rig()
    answer = await rig.answer()
    react = lambda who, emoji, removed=False: rig.rate(  # noqa: E731
        Reaction(who, answer.answer_id, emoji, removed=removed)
    )
    assert (await react(ALICE, "👍")).recorded == "feedback.RatingGiven"
    assert (await react(ALICE, "+1")).reason == "already counted"  # same vote, other emoji
    assert (await react(ALICE, "👎")).recorded == "feedback.RatingGiven"  # changed: latest wins
    assert (await react(ALICE, "👍", removed=True)).recorded is None  # superseded, nothing to undo
    assert (await react(BOB, "✅")).recorded == "feedback.RatingGiven"
    assert (await react(BOB, "✅", removed=True)).recorded == "feedback.RatingRetracted"
    assert rig.votes() == [
        ("RatingGiven", 1, True),
        ("RatingGiven", -1, True),
        ("RatingGiven", 1, False),
        ("RatingRetracted", 1, False),
    ]
    changed = [e for e in rig.store.events if e.type == "feedback.RatingGiven"][1]
    assert changed.payload["replaces"] == 1


async def test_reactions_that_are_not_votes_on_answers_are_ignored() -> None:
    rig = Rig()
    answer = await rig.answer()
    failed = await rig.answer(ScriptedModel([], error=ModelUnavailable("down")))
    assert failed.failed
    outcomes = [
        await rig.rate(Reaction(BOB, "no-such-answer", "👍")),
        await rig.rate(Reaction(BOB, failed.answer_id, "👍")),
        await rig.rate(Reaction(BOB, answer.answer_id, "🎉")),
        await rig.rate(Reaction(BOB, answer.answer_id, "👍", by_bot=True)),
    ]
    assert [o.recorded for o in outcomes] == [None] * 4
    assert outcomes[0].reason == outcomes[1].reason == NOT_AN_ANSWER
    assert outcomes[3].reason == "the bot's own reaction"
    assert rig.votes() == []


async def test_a_redelivered_reaction_event_is_counted_once() -> None:
    rig = Rig()
    answer = await rig.answer()
    reaction = Reaction(BOB, answer.answer_id, "👍", platform_event_id="Ev-1")
    await rig.rate(reaction)
    await rig.rate(Reaction(BOB, answer.answer_id, "👍", removed=True))
    await rig.rate(reaction)  # the platform retries the first delivery
    assert [v[0] for v in rig.votes()] == ["RatingGiven", "RatingRetracted"]


async def test_votes_racing_on_one_answer_are_all_kept() -> None:
    rig = Rig()
    answer = await rig.answer()
    people = [Person("slack", "T1", f"U{i}") for i in range(15)]
    await asyncio.gather(*(rig.rate(Reaction(p, answer.answer_id, "👍")) for p in people))
    assert len(rig.votes()) == 15
