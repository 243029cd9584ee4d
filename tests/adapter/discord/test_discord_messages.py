"""Questions over the gateway, answers over REST: the real discord.py client (DiscordService)
against the fake Discord, answered by the real use cases and AnswerWorker."""

from __future__ import annotations

import re

from domain.sandbox import code_blocks
from tests.adapter.discord import payloads as p
from tests.adapter.discord.harness import Bot, running_bot

ZWSP = "\u200b"


def final(bot: Bot, channel: str = p.CHANNEL_ID) -> list[dict]:  # type: ignore[type-arg]
    return [m for m in bot.fake.bot_messages(channel) if "**Sources**" in m["content"]]


async def rating_seeds(bot: Bot) -> None:
    await bot.fake.wait_for(lambda: len(bot.fake.calls("PUT", "/channels/")) >= 2)


async def test_a_mention_is_answered_by_a_reply_that_streams_then_shows_its_sources() -> None:
    async with running_bot() as bot:
        question = p.message(p.CHANNEL_ID, p.ALICE, f"<@{p.BOT_ID}> how do I roll back?")
        await bot.fake.post(question)
        [answer] = await bot.fake.wait_for(lambda: final(bot))
        fake = bot.fake
        assert fake.calls("POST", f"/channels/{p.CHANNEL_ID}/typing")
        [post] = fake.calls("POST", f"/channels/{p.CHANNEL_ID}/messages")
        assert post.body["message_reference"]["message_id"] == int(question["id"])
        assert post.body["allowed_mentions"] == {"parse": []}
        assert post.body["nonce"]
        assert post.body["enforce_nonce"] is True
        edits = fake.calls("PATCH", f"/channels/{p.CHANNEL_ID}/messages/{answer['id']}")
        assert len(edits) >= 2  # grew while streaming, then the final edit
        assert all(e.body["allowed_mentions"] == {"parse": []} for e in edits)
        assert answer["content"] == (
            "Run make rollback [1].\n\n**Sources**\n[1] `kb/deploy.md:30-38` (MIT)"
        )
        assert bot.types() == ["conversation.QuestionAsked", "conversation.AnswerGiven"]
        [posted] = bot.refs.posted_messages
        assert (posted.channel_id, posted.message_id) == (p.CHANNEL_ID, answer["id"])
        assert posted.thread_id == question["id"]
        await rating_seeds(bot)
        assert [r.path.split("/")[-2] for r in fake.calls("PUT")[1:]] == ["👍", "👎"]
        assert bot.model.requests[0].messages[-1].content.endswith("how do I roll back?\nAnswer:")


async def test_mentions_in_the_answer_ping_nobody() -> None:
    async with running_bot(["Ping @everyone and <@42> or <@&7> [1]."]) as bot:
        await bot.fake.post(p.message(p.CHANNEL_ID, p.BOB, f"<@{p.BOT_ID}> who is on call?"))
        [answer] = await bot.fake.wait_for(lambda: final(bot))
        text = answer["content"]
        assert "@everyone" not in text
        assert "<@42>" not in text
        assert "<@&7>" not in text
        assert f"@{ZWSP}everyone" in text or f"{ZWSP}everyone" in text


async def test_a_long_answer_is_split_at_2000_characters_with_its_code_fence_kept() -> None:
    code = "".join(f"print('line {i}')  # {'x' * 40}\n" for i in range(80))
    pieces = ["Here is the script:\n", f"```python\n{code}```\n", "That is all [1]."]
    async with running_bot(pieces) as bot:
        await bot.fake.post(p.message(p.CHANNEL_ID, p.ALICE, f"<@{p.BOT_ID}> the script?"))
        await bot.fake.wait_for(lambda: final(bot))
        await rating_seeds(bot)  # the last calls of a reply: every part is out
        parts = [m["content"] for m in bot.fake.bot_messages(p.CHANNEL_ID)]
        assert len(parts) >= 3
        assert all(len(part) <= 2000 for part in parts)
        assert all(part.count("```") % 2 == 0 for part in parts)  # each part's fence closed
        rebuilt = "".join(block.code for part in parts for block in code_blocks(part))
        assert rebuilt.replace("\n", "") == code.replace("\n", "")
        posts = bot.fake.calls("POST", f"/channels/{p.CHANNEL_ID}/messages")
        assert len({post.body["nonce"] for post in posts}) == len(posts)
        assert len(bot.refs.posted_messages) == len(parts)  # a reaction on any part rates it


async def test_a_very_long_answer_goes_out_as_a_file() -> None:
    async with running_bot(["word " * 3000, "[1]."]) as bot:
        await bot.fake.post(p.message(p.CHANNEL_ID, p.ALICE, f"<@{p.BOT_ID}> tell me all"))
        await bot.fake.wait_for(lambda: any(r.files for r in bot.fake.requests))
        [upload] = [r for r in bot.fake.requests if r.files]
        [(name, data)] = upload.files
        assert name == "answer.md"
        assert data.decode().count("word") == 3000
        assert upload.body["allowed_mentions"] == {"parse": []}


async def test_a_dm_is_a_question_and_a_channel_message_without_mention_is_not() -> None:
    async with running_bot() as bot:
        await bot.fake.post(p.message(p.CHANNEL_ID, p.BOB, "lunch anyone?"))
        dm = p.message(p.DM_CHANNEL_ID, p.ALICE, "how do I roll back?", guild_id=None)
        await bot.fake.post(dm)
        [answer] = await bot.fake.wait_for(lambda: final(bot, p.DM_CHANNEL_ID))
        assert answer["message_reference"]["message_id"] == dm["id"]
        assert bot.types().count("conversation.QuestionAsked") == 1
        assert bot.fake.bot_messages(p.CHANNEL_ID) == []


async def test_a_thread_the_bot_answers_in_takes_follow_ups_without_a_mention() -> None:
    async with running_bot() as bot:
        await bot.fake.post(p.message(p.THREAD_ID, p.BOB, "not for the bot"))
        first = p.message(p.THREAD_ID, p.ALICE, f"<@{p.BOT_ID}> how do I roll back?")
        await bot.fake.post(first)
        await bot.fake.wait_for(lambda: final(bot, p.THREAD_ID))
        await bot.fake.post(p.message(p.THREAD_ID, p.BOB, "and on staging?"))
        await bot.fake.wait_for(lambda: len(final(bot, p.THREAD_ID)) == 2)
        assert bot.types().count("conversation.QuestionAsked") == 1
        assert bot.types().count("conversation.FollowUpAsked") == 1
        follow_up_prompt = bot.model.requests[1].messages[-1].content
        assert "how do I roll back?" in follow_up_prompt  # the thread's history went in


async def test_a_thread_the_bot_started_is_a_conversation_with_it() -> None:
    async with running_bot() as bot:
        await bot.fake.post(p.message(p.BOT_THREAD_ID, p.ALICE, "how do I roll back?"))
        [answer] = await bot.fake.wait_for(lambda: final(bot, p.BOT_THREAD_ID))
        assert answer["content"].startswith("Run make rollback [1].")


async def test_a_reply_to_an_answer_continues_its_conversation() -> None:
    async with running_bot() as bot:
        await bot.fake.post(p.message(p.CHANNEL_ID, p.ALICE, f"<@{p.BOT_ID}> roll back?"))
        [answer] = await bot.fake.wait_for(lambda: final(bot))
        reply = p.message(p.CHANNEL_ID, p.ALICE, "and staging?", reference=answer["id"])
        await bot.fake.post(reply)
        await bot.fake.wait_for(lambda: len(final(bot)) == 2)
        assert bot.types().count("conversation.FollowUpAsked") == 1
        second = final(bot)[1]
        assert second["message_reference"]["message_id"] == reply["id"]


async def test_run_this_runs_the_block_and_replies_with_the_result() -> None:
    async with running_bot() as bot:
        asked = p.message(
            p.CHANNEL_ID, p.ALICE, f"<@{p.BOT_ID}> run this\n```python\nprint(1 + 1)\n```"
        )
        await bot.fake.post(asked)
        [reply] = await bot.fake.wait_for(
            lambda: [m for m in bot.fake.bot_messages(p.CHANNEL_ID) if "ran python" in m["content"]]
        )
        assert reply["message_reference"]["message_id"] == asked["id"]
        assert [r.code.strip() for r in bot.sandbox.requests] == ["print(1 + 1)"]
        assert "sandbox.SnippetRun" in bot.types()
        assert "conversation.QuestionAsked" not in bot.types()


async def test_a_play_reaction_on_an_uncached_message_runs_its_first_block() -> None:
    async with running_bot() as bot:
        # Only in the history: the client never saw it, so it is not in its cache.
        code = bot.fake.add_message(
            p.message(p.CHANNEL_ID, p.BOB, "try:\n```bash\necho hi\n```\n```python\nx\n```")
        )
        await bot.fake.gateway.dispatch("MESSAGE_REACTION_ADD",
                                        p.reaction(code["id"], p.ALICE_ID, "▶️"))  # fmt: skip
        [reply] = await bot.fake.wait_for(
            lambda: [m for m in bot.fake.bot_messages(p.CHANNEL_ID) if "ran bash" in m["content"]]
        )
        assert bot.fake.calls("GET", f"/channels/{p.CHANNEL_ID}/messages/{code['id']}")
        assert reply["message_reference"]["message_id"] == code["id"]
        assert re.search(r"echo hi", reply["content"])


async def test_a_deleted_question_is_shredded_and_an_edit_stored() -> None:
    async with running_bot() as bot:
        question = p.message(p.CHANNEL_ID, p.ALICE, f"<@{p.BOT_ID}> how do I roll back?")
        await bot.fake.post(question)
        await bot.fake.wait_for(lambda: final(bot))
        edit = p.message(p.CHANNEL_ID, p.ALICE, "how do I undo?", message_id=question["id"])
        await bot.fake.gateway.dispatch("MESSAGE_UPDATE", edit)
        await bot.fake.wait_for(lambda: "conversation.QuestionEdited" in bot.types())
        deleted = {"id": question["id"], "channel_id": p.CHANNEL_ID, "guild_id": p.GUILD_ID}
        await bot.fake.gateway.dispatch("MESSAGE_DELETE", deleted)
        await bot.fake.wait_for(lambda: "conversation.QuestionDeleted" in bot.types())
        asked = bot.store.events[0]
        texts = [e.payload["text"] for e in bot.store.events if "text" in e.payload]
        assert len(texts) == 3  # question, answer, edit
        assert [await bot.privacy.reveal(asked.payload["user"], t) for t in texts] == [None] * 3
