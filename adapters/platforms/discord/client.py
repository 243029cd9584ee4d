"""The discord.py client: the intents Buddy needs, `/buddy` synced at login, and gateway events
handed to DiscordInbound. A second READY in one run means a session was lost and identified
again (a resumed one gets RESUMED instead): the messages it missed are back-filled."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import discord
from discord import app_commands

from adapters.platforms.common import BackgroundWork
from adapters.platforms.discord.backfill import ActiveChannels, backfill
from adapters.platforms.discord.errors import TRANSIENT, describe
from adapters.platforms.discord.inbound import DiscordInbound

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DiscordTiming:
    """Discord's pacing; tests shorten it against the fake."""

    edit_interval_s: float = 1.5  # between edits of a streaming answer (5 edits / 5 s / channel)
    guild_ready_timeout_s: float = 2.0  # discord.py waits this long for GUILD_CREATEs after READY
    reidentify_delay_s: float = 5.0  # before an IDENTIFY that is not the first (Discord's limit)
    ready_timeout_s: float = 60.0  # for `start` to see READY
    drain_s: float = 30.0  # `stop` waits this long for replies in flight (REST closes after)


def intents() -> discord.Intents:
    wanted = discord.Intents.none()
    wanted.guilds = True
    wanted.guild_messages = True
    wanted.dm_messages = True
    wanted.message_content = True  # privileged: follow-ups in threads carry no mention
    wanted.guild_reactions = True
    wanted.dm_reactions = True
    return wanted


class BuddyClient(discord.Client):
    def __init__(self, timing: DiscordTiming) -> None:
        super().__init__(
            intents=intents(),
            allowed_mentions=discord.AllowedMentions.none(),  # belt and braces: every send
            guild_ready_timeout=timing.guild_ready_timeout_s,
        )
        self.timing = timing
        self.tree = app_commands.CommandTree(self)
        self.inbound: DiscordInbound | None = None
        self.accepting = True  # False once stopping: events are no longer taken
        self.active = ActiveChannels()
        self.readied = asyncio.Event()
        self.backfills = 0  # back-fills run (each one after a lost session)
        self._readies = 0
        self.background = BackgroundWork("discord")

    async def setup_hook(self) -> None:
        try:
            synced = await self.tree.sync()  # PUT /applications/{id}/commands
            log.info("discord: synced %d application command(s)", len(synced))
        except TRANSIENT as error:  # the gateway still works; /buddy waits for the next start
            log.error("discord: could not register /buddy: %s", describe(error))

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        if not initial:
            await asyncio.sleep(self.timing.reidentify_delay_s)

    async def on_ready(self) -> None:
        self._readies += 1
        self.readied.set()
        if self._readies > 1 and self.inbound is not None and self.accepting:
            self.background.start(self._backfill(self.inbound), "back-fill")

    async def _backfill(self, inbound: DiscordInbound) -> None:
        read = await backfill(self, self.active, inbound.on_message)
        self.backfills += 1
        log.info("discord: new session; back-filled %d message(s)", read)

    async def on_message(self, message: discord.Message) -> None:
        if self.inbound is not None and self.accepting:
            await self.inbound.on_message(message)

    async def on_raw_reaction_add(self, event: discord.RawReactionActionEvent) -> None:
        if self.inbound is not None and self.accepting:
            await self.inbound.on_reaction(event)

    async def on_raw_reaction_remove(self, event: discord.RawReactionActionEvent) -> None:
        if self.inbound is not None and self.accepting:
            await self.inbound.on_reaction(event)

    async def on_raw_message_delete(self, event: discord.RawMessageDeleteEvent) -> None:
        if self.inbound is not None and self.accepting:
            await self.inbound.on_changed(str(event.message_id), None)

    async def on_raw_message_edit(self, event: discord.RawMessageUpdateEvent) -> None:
        content = event.data.get("content")
        if self.inbound is not None and self.accepting and isinstance(content, str):
            await self.inbound.on_changed(str(event.message_id), content)

    async def close(self) -> None:
        self.background.cancel_all()
        await super().close()
