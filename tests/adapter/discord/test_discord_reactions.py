"""Ratings from raw MESSAGE_REACTION_ADD/REMOVE dispatches of the fake gateway: on Buddy's
answers only, never the bot's own, and for messages the client never cached too."""

from __future__ import annotations

from tests.adapter.discord import payloads as p
from tests.adapter.discord.harness import Bot, running_bot

RATINGS = ("feedback.RatingGiven", "feedback.RatingRetracted")


def ratings(bot: Bot) -> list[str]:
    return [t for t in bot.types() if t in RATINGS]


async def answered(bot: Bot) -> dict:  # type: ignore[type-arg]
    await bot.fake.post(p.message(p.CHANNEL_ID, p.ALICE, f"<@{p.BOT_ID}> how do I roll back?"))
    await bot.fake.wait_for(lambda: len(bot.fake.calls("PUT", "/channels/")) >= 2)
    [answer] = bot.fake.bot_messages(p.CHANNEL_ID)
    return answer


async def react(
    bot: Bot, message_id: str, user_id: str, emoji: str, *, removed: bool = False
) -> None:
    event = "MESSAGE_REACTION_REMOVE" if removed else "MESSAGE_REACTION_ADD"
    await bot.fake.gateway.dispatch(event, p.reaction(message_id, user_id, emoji))


async def test_a_reaction_on_an_answer_is_a_rating_and_removing_it_retracts_it() -> None:
    async with running_bot() as bot:
        answer = await answered(bot)
        # Buddy's own posts never come back over the gateway here: the message is not cached.
        assert bot.service.client._connection._get_message(int(answer["id"])) is None
        await react(bot, answer["id"], p.BOB_ID, "👍")
        await bot.fake.wait_for(lambda: ratings(bot) == ["feedback.RatingGiven"])
        await react(bot, answer["id"], p.BOB_ID, "👍", removed=True)
        await bot.fake.wait_for(lambda: len(ratings(bot)) == 2)
        assert ratings(bot) == ["feedback.RatingGiven", "feedback.RatingRetracted"]
        given = next(e for e in bot.store.events if e.type == "feedback.RatingGiven")
        assert (given.payload["value"], given.payload["by_asker"]) == (1, False)


async def test_the_askers_vote_is_flagged() -> None:
    async with running_bot() as bot:
        answer = await answered(bot)
        await react(bot, answer["id"], p.ALICE_ID, "👎")
        await bot.fake.wait_for(lambda: ratings(bot))
        given = next(e for e in bot.store.events if e.type == "feedback.RatingGiven")
        assert (given.payload["value"], given.payload["by_asker"]) == (-1, True)


async def test_reactions_that_are_not_votes_count_for_nothing() -> None:
    async with running_bot() as bot:
        answer = await answered(bot)
        question = bot.fake.history[p.CHANNEL_ID][0]
        await react(bot, question["id"], p.BOB_ID, "👍")  # not an answer
        await react(bot, answer["id"], p.BOT_ID, "👍")  # the bot's own seed
        await react(bot, answer["id"], p.OTHER_BOT_ID, "👍")  # another bot
        await react(bot, answer["id"], p.BOB_ID, "🎉")  # not a rating
        await react(bot, answer["id"], p.ALICE_ID, "✅")  # a marker that all came through
        await bot.fake.wait_for(lambda: ratings(bot))
        assert ratings(bot) == ["feedback.RatingGiven"]
        [given] = [e for e in bot.store.events if e.type == "feedback.RatingGiven"]
        assert given.payload["emoji"] == "✅"
