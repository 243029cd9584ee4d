"""A question over the rate limit on Discord: nothing stored, and a reply to the refused message
says when to try again; another person is not affected, and a minute later the asker is."""

from __future__ import annotations

from domain.rate_limits import Limit, RateLimits, with_rate_limits
from tests.adapter.discord import payloads as p
from tests.adapter.discord.harness import Bot, running_bot

SORRY = "You're asking faster than I can keep up: try again in a minute."


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def limit_questions(bot: Bot, clock: FakeClock) -> None:
    """The running bot's handlers behind one question a minute per user."""
    inbound = bot.service.client.inbound
    assert inbound is not None
    rules = RateLimits(questions_per_user=Limit(1, 60), clock=clock)
    inbound._handlers = with_rate_limits(inbound._handlers, rules)


def answers(bot: Bot) -> list[dict]:  # type: ignore[type-arg]
    return [m for m in bot.fake.bot_messages(p.CHANNEL_ID) if "**Sources**" in m["content"]]


def replies_to(bot: Bot, message_id: str) -> list[str]:
    return [
        str(m["content"])
        for m in bot.fake.bot_messages(p.CHANNEL_ID)
        if (m.get("message_reference") or {}).get("message_id") == message_id
    ]


async def test_a_second_question_within_the_window_gets_a_friendly_reply_and_is_not_stored() -> (
    None
):
    clock = FakeClock()
    async with running_bot() as bot:
        limit_questions(bot, clock)
        first = p.message(p.CHANNEL_ID, p.ALICE, f"<@{p.BOT_ID}> how do I roll back?")
        await bot.fake.post(first)
        await bot.fake.wait_for(lambda: len(answers(bot)) == 1)

        second = p.message(p.CHANNEL_ID, p.ALICE, f"<@{p.BOT_ID}> and on staging?")
        await bot.fake.post(second)
        [sorry] = await bot.fake.wait_for(lambda: replies_to(bot, second["id"]))
        assert sorry == SORRY
        assert bot.types().count("conversation.QuestionAsked") == 1  # nothing stored for it
        assert len(bot.store.outbox) == 1

        # Bob has a bucket of his own.
        await bot.fake.post(p.message(p.CHANNEL_ID, p.BOB, f"<@{p.BOT_ID}> who is on call?"))
        await bot.fake.wait_for(lambda: len(answers(bot)) == 2)

        clock.now += 60  # a minute later Alice is taken again
        third = p.message(p.CHANNEL_ID, p.ALICE, f"<@{p.BOT_ID}> and on staging, please?")
        await bot.fake.post(third)
        await bot.fake.wait_for(lambda: len(answers(bot)) == 3)
        assert bot.types().count("conversation.QuestionAsked") == 3
        assert replies_to(bot, third["id"]) != [SORRY]
