"""Answers this process accepted and has not replied to yet: 👀 on the question while its answer
is written, taken off once the answer is posted: by this process, or, when another replica
answered (replies are claimed by whichever replica's worker gets there first), by a sweep that
finds the reply posted."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from adapters.platforms.common import SeenIds
from adapters.platforms.slack.client import SlackWeb
from adapters.platforms.slack.translate import EYES
from domain.errors import BuddyError

log = logging.getLogger(__name__)
_REMEMBERED = 2_000  # answers whose 👀 is done: a late redelivery must not bring it back
# Answers watched at most: one another replica answered never comes off this process's list.
_WATCHED_AT_MOST = 5_000


@dataclass(frozen=True)
class _Watched:
    channel: str
    ts: str
    added: asyncio.Task[None]


class WorkInProgress:
    def __init__(self, web: SlackWeb) -> None:
        self._web = web
        self._watched: dict[str, _Watched] = {}
        self._finished = SeenIds(_REMEMBERED)

    def start(self, answer_id: str, channel: str, ts: str) -> None:
        """React 👀 on the question, in the background: the listener must ack at once."""
        if answer_id in self._watched or answer_id in self._finished:
            return  # a redelivered event
        added = asyncio.create_task(self._react(answer_id, channel, ts, remove=False))
        self._watched[answer_id] = _Watched(channel, ts, added)
        while len(self._watched) > _WATCHED_AT_MOST:  # the oldest first
            self._watched.pop(next(iter(self._watched)))

    async def sweep(self, posted_elsewhere: Callable[[str], Awaitable[bool]]) -> int:
        """Take 👀 off questions whose answer `posted_elsewhere` says another replica posted;
        how many."""
        swept = 0
        for answer_id in list(self._watched):
            if await posted_elsewhere(answer_id):
                await self.done(answer_id)
                swept += 1
        return swept

    def accepted(self, answer_id: str) -> bool:
        """Whether this process accepted the question (and has not answered it yet)."""
        return answer_id in self._watched

    async def done(self, answer_id: str) -> None:
        self._finished.first_time(answer_id)
        watched = self._watched.pop(answer_id, None)
        if watched is None:  # answered by a Buddy that never saw the question (a restart)
            return
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait([watched.added])  # 👀 must be on before it can come off
        await self._react(answer_id, watched.channel, watched.ts, remove=True)

    async def _react(self, answer_id: str, channel: str, ts: str, *, remove: bool) -> None:
        try:
            await self._web.react(channel, ts, EYES, remove=remove)
        except BuddyError as error:  # 👀 is a courtesy: never worth failing a reply over
            which = "off" if remove else "on"
            log.warning("👀 %s for answer %s failed: %s", which, answer_id, error)
