"""A question over the rate limit: acked (no Slack retry), nothing stored, and the asker told in
the thread when to try again; once the bucket refills the next question is taken."""

from __future__ import annotations

from domain.rate_limits import Limit, RateLimits, with_rate_limits
from tests.adapter.fake_slack import FakeSlack
from tests.adapter.slack.harness import BuddyProcess, World, mention, message
from tests.fakes import ScriptedModel

FIRST_TS, SECOND_TS, THIRD_TS = "1690000000.000100", "1690000001.000100", "1690000002.000100"
SORRY = "You're asking faster than I can keep up: try again in a minute."


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def limited(buddy: BuddyProcess, clock: FakeClock) -> BuddyProcess:
    """The harness's handlers behind one question a minute per user (bound before start)."""
    handlers = buddy.service._handlers
    assert handlers is not None
    rules = RateLimits(questions_per_user=Limit(1, 60), clock=clock)
    buddy.service.bind(with_rate_limits(handlers, rules))
    return buddy


def replies_in(slack: FakeSlack, thread: str) -> list[str]:
    return [p["text"] for p in slack.called("chat.postMessage") if p.get("thread_ts") == thread]


async def test_a_second_question_within_the_window_gets_a_friendly_reply_and_is_not_stored(
    slack: FakeSlack, world: World
) -> None:
    clock = FakeClock()
    model = ScriptedModel(["Run make rollback [1]."])
    buddy = await limited(BuddyProcess(world, slack, model), clock).start()
    try:
        assert await buddy.event(mention("how do I roll back?", FIRST_TS), "Ev1") == 200
        assert world.types() == ["conversation.QuestionAsked"]

        # The second, seconds later: acked all the same (200: Slack does not retry it).
        assert await buddy.event(mention("and on staging?", SECOND_TS), "Ev2") == 200
        await slack.wait_for(lambda: bool(replies_in(slack, SECOND_TS)), what="the reply")
        assert replies_in(slack, SECOND_TS) == [SORRY]
        assert world.types() == ["conversation.QuestionAsked"]  # no second QuestionAsked
        assert len(world.store.outbox) == 1  # and no reply job for it

        # A direct message is a question too, under the same limit.
        dm = message("still there?", THIRD_TS, channel="D1", channel_type="im")
        assert await buddy.event(dm, "Ev3") == 200
        await slack.wait_for(lambda: bool(replies_in(slack, THIRD_TS)), what="the DM reply")
        assert world.types() == ["conversation.QuestionAsked"]

        # A minute later the bucket has a token again: the same question is taken.
        clock.now += 60
        assert await buddy.event(mention("and on staging?", SECOND_TS), "Ev2", retry=1) == 200
        assert world.types() == ["conversation.QuestionAsked"] * 2
        await buddy.answer_pending()
    finally:
        await buddy.stop()

    answered = [e for e in world.types() if e == "conversation.AnswerGiven"]
    assert len(answered) == 2
    assert replies_in(slack, SECOND_TS)[0] == SORRY  # said once, in the refused one's thread
