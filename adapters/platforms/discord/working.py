"""Answers this process accepted and has not replied to yet: the typing indicator shown while
one is being worked on, and the question message its reply references."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import discord

from adapters.platforms.discord.errors import TRANSIENT, describe

log = logging.getLogger(__name__)
TYPING_EVERY_S = 8.0  # Discord shows "typing" for 10 s after each trigger
TYPING_AT_MOST_S = 180.0  # an answer that takes longer stops "typing" anyway
_REMEMBERED = 2000  # pending answers kept (a job given up on must not grow this forever)


@dataclass
class Pending:
    channel_id: str
    reply_to: str | None
    typing: asyncio.Task[None] | None = None


class WorkInProgress:
    def __init__(self, channel: Callable[[str], discord.abc.Messageable]) -> None:
        self._channel = channel
        self._pending: OrderedDict[str, Pending] = OrderedDict()
        self._idle = asyncio.Event()
        self._idle.set()

    def start(self, answer_id: str, channel_id: str, reply_to: str | None) -> None:
        """An accepted question: type in its channel until the reply goes out."""
        if answer_id in self._pending:
            return
        pending = Pending(channel_id, reply_to)
        pending.typing = asyncio.get_running_loop().create_task(self._type(answer_id, channel_id))
        self._pending[answer_id] = pending
        self._idle.clear()
        while len(self._pending) > _REMEMBERED:
            self._drop(next(iter(self._pending)))

    def reply_to(self, answer_id: str) -> str | None:
        pending = self._pending.get(answer_id)
        return None if pending is None else pending.reply_to

    def posted(self, answer_id: str) -> None:
        """The reply is visible: Discord clears "typing" when the bot posts, so stop sending it."""
        pending = self._pending.get(answer_id)
        if pending is not None and pending.typing is not None:
            pending.typing.cancel()
            pending.typing = None

    def done(self, answer_id: str) -> None:
        self._drop(answer_id)

    async def wait_idle(self, timeout_s: float) -> int:
        """Wait for the answers in flight to be sent; how many were still pending at the end."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout_s)
        return len(self._pending)

    def cancel_all(self) -> None:
        for answer_id in list(self._pending):
            self._drop(answer_id)

    def _drop(self, answer_id: str) -> None:
        pending = self._pending.pop(answer_id, None)
        if pending is not None and pending.typing is not None:
            pending.typing.cancel()
        if not self._pending:
            self._idle.set()

    async def _type(self, answer_id: str, channel_id: str) -> None:
        channel = self._channel(channel_id)
        loop = asyncio.get_running_loop()
        until = loop.time() + TYPING_AT_MOST_S
        while loop.time() < until:
            try:
                await channel.typing()
            except TRANSIENT as error:  # cosmetic: never worth failing an answer over
                log.info("typing for answer %s failed: %s", answer_id, describe(error))
                return
            await asyncio.sleep(TYPING_EVERY_S)
