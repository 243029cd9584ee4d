"""Back-fill after a lost session. A gateway session that resumes gets the events it missed
replayed; one that cannot (INVALID_SESSION, then a new IDENTIFY and READY) does not, so the
messages posted meanwhile in the conversations the bot is active in are read from history
(`GET /channels/{id}/messages?after=<last seen>`) and handled as if they had just arrived.
The message-id dedupe (and the question's platform event id at the store) keeps them once."""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import discord

from adapters.platforms.discord.errors import TRANSIENT, describe

log = logging.getLogger(__name__)
ACTIVE_CHANNELS = 200  # the most recently active conversations are back-filled
BACKFILL_LIMIT = 200  # messages read per channel at most


@dataclass
class _Seen:
    guild_id: str | None
    last_message_id: int


class ActiveChannels:
    """Channels (text channels, threads, DMs) where the bot took a question, with the last
    message id the gateway delivered in each."""

    def __init__(self, size: int = ACTIVE_CHANNELS) -> None:
        self._channels: OrderedDict[str, _Seen] = OrderedDict()
        self._size = size

    def track(self, channel_id: str, guild_id: str | None, message_id: str) -> None:
        seen = self._channels.pop(channel_id, None) or _Seen(guild_id, 0)
        seen.last_message_id = max(seen.last_message_id, int(message_id))
        self._channels[channel_id] = seen
        while len(self._channels) > self._size:
            self._channels.popitem(last=False)

    def saw(self, channel_id: str, message_id: str) -> None:
        """A message delivered live in a channel (tracked ones only)."""
        seen = self._channels.get(channel_id)
        if seen is not None:
            seen.last_message_id = max(seen.last_message_id, int(message_id))

    def snapshot(self) -> list[tuple[str, str | None, int]]:
        return [(cid, s.guild_id, s.last_message_id) for cid, s in self._channels.items()]


async def backfill(
    client: discord.Client, active: ActiveChannels,
    handle: Callable[[discord.Message], Awaitable[None]],
) -> int:  # fmt: skip
    """Hand every message posted after the last one seen in each active channel to `handle`,
    oldest first; how many were read."""
    read = 0
    for channel_id, guild_id, after in active.snapshot():
        found = client.get_channel(int(channel_id))
        channel: discord.abc.Messageable
        if isinstance(found, discord.abc.Messageable):
            channel = found
        else:
            channel = client.get_partial_messageable(
                int(channel_id), guild_id=None if guild_id is None else int(guild_id)
            )
        try:
            history = channel.history(
                limit=BACKFILL_LIMIT, after=discord.Object(after), oldest_first=True
            )
            async for message in history:
                read += 1
                await handle(message)
        except TRANSIENT as error:  # one unreadable channel must not stop the others
            log.warning("back-fill of a channel failed: %s", describe(error))
    return read
