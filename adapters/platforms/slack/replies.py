"""Buddy's replies on Slack (the answer worker's ChatPlatform): the answer posted in the thread
and edited as it streams, and 👀 (working.py) taken off the question when done. A reply already
posted for an answer (before a restart) is edited, never posted again."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from adapters.platforms.slack.client import SlackWeb
from adapters.platforms.slack.errors import describe
from adapters.platforms.slack.translate import (
    PLATFORM,
    SlackMessage,
    render,
    render_answer,
    render_draft,
)
from adapters.platforms.slack.working import WorkInProgress
from domain.conversation import Answer, MessageRefs, PostedMessage
from domain.errors import ConfigurationError
from domain.snippets import SnippetReply

log = logging.getLogger(__name__)
_DRAFT_EDIT_WAIT_S = 2.5


@dataclass
class _Shown:
    """A reply on screen: where it is, and when it was last edited."""

    channel: str
    ts: str
    edited_at: float
    text: str
    thread_id: str | None = None
    remembered: bool = True


class SlackReplies:
    def __init__(
        self, web: SlackWeb, *, work: WorkInProgress | None = None,
        edit_interval_s: float = 1.2, clock: Callable[[], float] = time.monotonic,
    ) -> None:  # fmt: skip
        self._web = web
        self._work = work or WorkInProgress(web)
        self._edit_interval_s = edit_interval_s  # chat.update: about one edit a second a message
        self._clock = clock
        self._refs: MessageRefs | None = None
        self._shown: dict[str, _Shown] = {}

    def use_refs(self, refs: MessageRefs) -> None:
        self._refs = refs

    @property
    def refs(self) -> MessageRefs:
        if self._refs is None:
            raise ConfigurationError("the Slack service was started before it was bound")
        return self._refs

    async def draft(
        self, answer_id: str, channel_id: str, thread_id: str | None, text_so_far: str
    ) -> None:
        message = render_draft(text_so_far)
        if message is None:
            return
        shown = self._shown.get(answer_id)
        try:
            if shown is None:
                await self._show(answer_id, channel_id, thread_id, message)
            elif self._clock() - shown.edited_at >= self._edit_interval_s:
                # The model waits on this: a rate-limited edit is dropped, not waited out
                # (an edit is safe to abandon; the final send edits again).
                await asyncio.wait_for(self._edit(shown, message), _DRAFT_EDIT_WAIT_S)
        except Exception as error:  # a draft is a courtesy: the final send still comes
            log.warning("draft of answer %s not shown: %s", answer_id, describe(error))

    async def send(self, channel_id: str, thread_id: str | None, answer: Answer) -> None:
        message = render_answer(answer)
        shown = self._shown.get(answer.answer_id)
        if shown is None:
            shown = await self._show(answer.answer_id, channel_id, thread_id, message)
        else:
            await self._edit(shown, message)  # the final edit: drafts may have been skipped
        if not shown.remembered:
            await self._remember(answer.answer_id, shown)
        del self._shown[answer.answer_id]
        if message.attachment is not None:
            await self._web.upload(
                shown.channel, thread_id or shown.ts, message.attachment, "answer.md"
            )
        await self._work.done(answer.answer_id)

    async def posted_elsewhere(self, answer_id: str) -> bool:
        """Another replica posted this answer (this one is not writing it)."""
        if answer_id in self._shown:
            return False
        return await self.refs.posted(PLATFORM, answer_id) is not None

    async def post_snippet(self, channel: str, thread_ts: str | None, reply: SnippetReply) -> None:
        """A snippet's result in the thread, its whole output as a file when it was cut."""
        message = render(reply.text)
        await self._web.post(channel, thread_ts, message)
        whole = reply.attachment or message.attachment
        if whole is not None:
            await self._web.upload(channel, thread_ts, whole, "output.txt")

    async def _show(
        self, answer_id: str, channel: str, thread_id: str | None, message: SlackMessage
    ) -> _Shown:
        """Post the reply, or edit the one a previous run of Buddy already posted."""
        posted = await self.refs.posted(PLATFORM, answer_id) or await self._lost(
            answer_id, channel, thread_id
        )
        if posted is not None:
            shown = _Shown(posted.channel_id, posted.message_id, 0.0, "")
            self._shown[answer_id] = shown
            await self._edit(shown, message)
        else:
            ts = await self._web.post(channel, thread_id, message, answer_id)
            # Kept before it is remembered: should remembering fail, later drafts still edit
            # this message, and the send remembers it again.
            shown = _Shown(channel, ts, self._clock(), message.text, thread_id, remembered=False)
            self._shown[answer_id] = shown
            await self._remember(answer_id, shown)
        return shown

    async def _lost(
        self, answer_id: str, channel: str, thread_id: str | None
    ) -> PostedMessage | None:
        """A reply a crashed Buddy posted but did not live to remember: only an answer this
        Buddy did not accept itself (a resumed job) can have one, so only those look."""
        if self._work.accepted(answer_id) or thread_id is None:
            return None
        ts = await self._web.find_answer(channel, thread_id, answer_id)
        if ts is None:
            return None
        found = PostedMessage(PLATFORM, channel, ts, answer_id, thread_id)
        await self.refs.remember(found)
        return found

    async def _remember(self, answer_id: str, shown: _Shown) -> None:
        # The thread is the question's, or the one this reply starts (follow-ups go there).
        thread = shown.thread_id or shown.ts
        await self.refs.remember(
            PostedMessage(PLATFORM, shown.channel, shown.ts, answer_id, thread)
        )
        shown.remembered = True

    async def _edit(self, shown: _Shown, message: SlackMessage) -> None:
        if message.text == shown.text:
            return
        await self._web.update(shown.channel, shown.ts, message)
        shown.edited_at, shown.text = self._clock(), message.text
