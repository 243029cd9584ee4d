"""The gateway's bad days, on the fake gateway: a RESUME that replays a MESSAGE_CREATE the client
already had (answered once), a dispatch missed while reconnecting (replayed, answered), and an
INVALID_SESSION that forces a new IDENTIFY: what was posted meanwhile in an active thread is read
back from history (`GET /channels/{id}/messages?after=`) and answered once."""

from __future__ import annotations

from tests.adapter.discord import payloads as p
from tests.adapter.discord.harness import Bot, running_bot


def answers(bot: Bot, channel: str) -> list[dict]:  # type: ignore[type-arg]
    return [m for m in bot.fake.bot_messages(channel) if "**Sources**" in m["content"]]


async def test_a_message_replayed_after_a_resume_is_answered_once() -> None:
    async with running_bot() as bot:
        gateway = bot.fake.gateway
        seq = await bot.fake.post(p.message(p.CHANNEL_ID, p.ALICE, f"<@{p.BOT_ID}> roll back?"))
        await bot.fake.wait_for(lambda: answers(bot, p.CHANNEL_ID))
        gateway.replay_after = seq - 1  # Discord delivers at least once
        await gateway.reconnect()
        missed = p.message(p.CHANNEL_ID, p.BOB, f"<@{p.BOT_ID}> and staging?")
        await bot.fake.post(missed)  # while the client is away: only a RESUME brings it
        await bot.fake.wait_for(lambda: gateway.resumes == 1)
        await bot.fake.wait_for(lambda: len(answers(bot, p.CHANNEL_ID)) == 2)
        [resume] = [f for f in gateway.received if f["op"] == 6]
        assert resume["d"]["seq"] >= seq
        assert gateway.identifies == 1
        assert bot.types().count("conversation.QuestionAsked") == 2
        assert len(bot.store.outbox) == 2
        replies = [m["message_reference"]["message_id"] for m in answers(bot, p.CHANNEL_ID)]
        assert replies[1] == missed["id"]
        assert len(bot.fake.calls("POST", f"/channels/{p.CHANNEL_ID}/messages")) == 2


async def test_after_an_invalid_session_missed_thread_messages_are_back_filled_once() -> None:
    async with running_bot() as bot:
        gateway = bot.fake.gateway
        first = p.message(p.THREAD_ID, p.ALICE, f"<@{p.BOT_ID}> roll back?")
        await bot.fake.post(first)
        await bot.fake.wait_for(lambda: answers(bot, p.THREAD_ID))
        await gateway.invalidate_session()
        # Posted while the session is gone: Discord will never dispatch it to the new one.
        missed = bot.fake.add_message(p.message(p.THREAD_ID, p.ALICE, "and on staging?"))
        await bot.fake.wait_for(lambda: gateway.identifies == 2)
        await bot.fake.wait_for(lambda: len(answers(bot, p.THREAD_ID)) == 2)
        [history] = bot.fake.calls("GET", f"/channels/{p.THREAD_ID}/messages")
        assert history.query["after"] == first["id"]  # the last message the gateway delivered
        assert bot.types().count("conversation.FollowUpAsked") == 1
        assert answers(bot, p.THREAD_ID)[1]["message_reference"]["message_id"] == missed["id"]
        assert bot.service.client.backfills == 1
        # A second lost session reads nothing new and answers nothing twice.
        await gateway.invalidate_session()
        reads = await bot.fake.wait_for(
            lambda: bot.fake.calls("GET", f"/channels/{p.THREAD_ID}/messages")[1:]
        )
        assert reads[0].query["after"] == missed["id"]
        assert len(answers(bot, p.THREAD_ID)) == 2
        assert len(bot.store.outbox) == 2
