"""DiscordService's life on the fake: where it connects and how, a bad token, and a reply job
run again after a crash (it edits the message already posted instead of posting twice)."""

from __future__ import annotations

import discord
import pytest
from discord.gateway import DiscordWebSocket
from discord.http import Route

from adapters.platforms.discord.client import intents
from adapters.platforms.discord.errors import DiscordLoginFailed, DiscordUnavailable
from adapters.platforms.discord.service import DiscordService
from domain.errors import ConfigurationError
from tests.adapter.discord import payloads as p
from tests.adapter.discord.harness import FAST, null_handlers, running_bot
from tests.adapter.fake_discord import running_fake_discord


async def test_it_connects_to_the_gateway_the_api_names_and_puts_the_defaults_back() -> None:
    defaults = (Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY)
    async with running_bot() as bot:
        assert bot.fake.api_url == Route.BASE
        assert str(DiscordWebSocket.DEFAULT_GATEWAY) == bot.fake.ws_url
        # discord.py always asks for zlib-stream; the fake compresses each frame to match.
        [query] = bot.fake.gateway.connects
        assert query == {"v": "10", "encoding": "json", "compress": "zlib-stream"}
        [identify] = [f for f in bot.fake.gateway.received if f["op"] == 2]
        assert identify["d"]["intents"] == intents().value
        assert intents().message_content
        assert intents().guild_reactions
        assert bot.fake.calls("GET", "/gateway/bot")
        assert bot.service.client.is_ready()
    assert defaults == (Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY)


async def test_a_rejected_token_is_a_clear_configuration_error() -> None:
    defaults = (Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY)
    async with running_fake_discord() as fake:
        service = DiscordService("wrong-token", api_url=fake.api_url, timing=FAST)
        service.bind(null_handlers())
        with pytest.raises(DiscordLoginFailed, match="rejected the bot token") as raised:
            await service.start(None)
        assert isinstance(raised.value, ConfigurationError)
        assert isinstance(raised.value.__cause__, discord.LoginFailure)
    assert defaults == (Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY)


async def test_start_without_bind_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="bind"):
        await DiscordService("t", api_url="http://127.0.0.1:9/api/v10").start(None)


async def test_a_reply_job_run_again_after_a_crash_edits_instead_of_posting_again() -> None:
    async with running_bot() as bot:
        await bot.fake.post(p.message(p.CHANNEL_ID, p.ALICE, f"<@{p.BOT_ID}> roll back?"))
        await bot.fake.wait_for(lambda: len(bot.fake.calls("PUT", "/channels/")) >= 2)
        await bot.fake.wait_for(lambda: bot.outbox.sent)
        posts = len(bot.fake.calls("POST", f"/channels/{p.CHANNEL_ID}/messages"))
        edits = len(bot.fake.calls("PATCH", "/channels/"))
        bot.outbox.sent.clear()  # the process died before marking the job sent
        bot.worker.wake()
        await bot.fake.wait_for(lambda: len(bot.fake.calls("PATCH", "/channels/")) > edits)
        await bot.fake.wait_for(lambda: bot.outbox.sent)
        assert len(bot.fake.calls("POST", f"/channels/{p.CHANNEL_ID}/messages")) == posts
        assert len(bot.fake.bot_messages(p.CHANNEL_ID)) == 1
        assert bot.types().count("conversation.AnswerGiven") == 1


async def test_an_unreachable_discord_is_a_clear_error() -> None:
    async with running_fake_discord() as fake:
        api_url = fake.api_url  # the port is closed once the fake stops
    service = DiscordService("t", api_url=api_url, timing=FAST)
    service.bind(null_handlers())
    with pytest.raises(DiscordUnavailable, match="logging in failed"):
        await service.start(None)


async def test_connected_is_the_gateway_session() -> None:
    """What /readyz reports for Discord: up from READY until the service stops."""
    async with running_bot() as bot:
        assert bot.service.connected
        await bot.service.stop()
        assert not bot.service.connected
