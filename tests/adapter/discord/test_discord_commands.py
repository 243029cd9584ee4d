"""`/buddy` over the fake: registered at login (PUT /applications/{id}/commands), and each
subcommand deferred (interaction callback type 5) before its follow-up (webhook POST)."""

from __future__ import annotations

from adapters.platforms.common import HELP
from domain.admin import COMMANDS
from tests.adapter.discord import payloads as p
from tests.adapter.discord.harness import Bot, running_bot
from tests.adapter.fake_discord import Recorded

DEFERRED, EPHEMERAL = 5, 64


async def deferred_then_followed_up(bot: Bot, interaction: dict) -> tuple[Recorded, Recorded]:  # type: ignore[type-arg]
    await bot.fake.interact(interaction)
    follow_up = f"/webhooks/{p.APP_ID}/{interaction['token']}"
    [first, *_] = await bot.fake.wait_for(lambda: bot.fake.calls("POST", follow_up))
    [callback] = bot.fake.calls("POST", f"/interactions/{interaction['id']}/")
    assert bot.fake.requests.index(callback) < bot.fake.requests.index(first)
    assert callback.body["type"] == DEFERRED
    assert first.body["allowed_mentions"] == {"parse": []}
    return callback, first


async def test_buddy_is_registered_with_its_subcommands_at_login() -> None:
    async with running_bot() as bot:
        [sync] = bot.fake.calls("PUT", f"/applications/{p.APP_ID}/commands")
        [command] = sync.body
        assert command["name"] == "buddy"
        assert {o["name"] for o in command["options"]} == {"ask", "run", "help"} | set(COMMANDS)
        forget = next(o for o in command["options"] if o["name"] == "forget")
        assert forget["options"][0]["type"] == 6  # a user picker, not free text


async def test_help_is_deferred_then_followed_up_only_for_the_asker() -> None:
    async with running_bot() as bot:
        callback, reply = await deferred_then_followed_up(bot, p.slash_command("help"))
        assert callback.body["data"]["flags"] & EPHEMERAL
        assert reply.body["content"] == HELP
        assert reply.body["flags"] & EPHEMERAL


async def test_ask_echoes_the_question_and_the_answer_replies_to_it() -> None:
    async with running_bot() as bot:
        option = {"name": "question", "type": 3, "value": "how do I roll back? @everyone"}
        _, echo = await deferred_then_followed_up(bot, p.slash_command("ask", [option]))
        assert "@everyone" not in echo.body["content"]
        [echoed] = [m for m in bot.fake.history[p.CHANNEL_ID] if m.get("webhook_id")]
        [answer] = await bot.fake.wait_for(lambda: [
            m for m in bot.fake.bot_messages(p.CHANNEL_ID) if "**Sources**" in m["content"]
        ])  # fmt: skip
        assert answer["message_reference"]["message_id"] == echoed["id"]
        assert bot.types() == ["conversation.QuestionAsked", "conversation.AnswerGiven"]


async def test_run_is_deferred_and_the_result_followed_up() -> None:
    async with running_bot() as bot:
        options = [{"name": "code", "type": 3, "value": "print(2)"}]
        _, result = await deferred_then_followed_up(bot, p.slash_command("run", options))
        assert "ran python: print(2)" in result.body["content"]
        assert "exit 0" in result.body["content"]
