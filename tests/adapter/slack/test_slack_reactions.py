"""Reactions on the bot's answers are ratings (added: RatingGiven, removed: RatingRetracted);
on any other message, or by the bot itself, they are nothing."""

from __future__ import annotations

from tests.adapter.fake_slack import BOT_USER, FakeSlack
from tests.adapter.slack.harness import ALICE, BuddyProcess, World, mention, reaction
from tests.fakes import ScriptedModel

QUESTION_TS = "1690000000.000100"


async def test_reactions_on_an_answer_rate_it_and_nothing_else_counts(
    slack: FakeSlack, world: World
) -> None:
    buddy = await BuddyProcess(world, slack, ScriptedModel(["Run make rollback [1]."])).start()
    try:
        await buddy.event(mention("how do I roll back?", QUESTION_TS), "Ev1")
        await buddy.answer_pending()
        [answer] = world.refs.posted_messages
        before = len(world.store.events)

        ignored = [
            reaction("+1", "C1", QUESTION_TS),  # on the question, not an answer
            reaction("+1", "C1", "1111111111.000100"),  # on some other message
            reaction("+1", "C2", answer.message_id),  # same ts, another channel
            reaction("+1", "C1", answer.message_id, user=BOT_USER),  # the bot's own
            reaction("tada", "C1", answer.message_id),  # not a rating
            reaction("-1", "C1", answer.message_id, removed=True),  # no such vote
        ]
        for number, event in enumerate(ignored):
            assert await buddy.event(event, f"Ev-ignored-{number}") == 200
        assert len(world.store.events) == before

        assert await buddy.event(reaction("thumbsup::skin-tone-3", "C1", answer.message_id),
                                 "Ev2") == 200  # fmt: skip
        assert await buddy.event(reaction("-1", "C1", answer.message_id, user=ALICE), "Ev3") == 200
        assert await buddy.event(reaction("-1", "C1", answer.message_id, user=ALICE), "Ev3",
                                 retry=1) == 200  # a redelivery is not a second vote  # fmt: skip
        assert await buddy.event(reaction("thumbsup::skin-tone-3", "C1", answer.message_id,
                                          removed=True), "Ev4") == 200  # fmt: skip
    finally:
        await buddy.stop()
    ratings = world.store.events[before:]
    assert [e.type for e in ratings] == [
        "feedback.RatingGiven", "feedback.RatingGiven", "feedback.RatingRetracted",
    ]  # fmt: skip
    given_by_bob, given_by_alice, retracted = (e.payload for e in ratings)
    assert (given_by_bob["value"], given_by_bob["by_asker"]) == (1, False)
    assert (given_by_alice["value"], given_by_alice["by_asker"]) == (-1, True)
    assert retracted["user"] == given_by_bob["user"]
