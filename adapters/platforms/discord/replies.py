"""The answer worker's side of Discord (domain.conversation.ChatPlatform): the first draft is
posted as a reply to the question, edited as the answer streams (at most one edit per
`edit_interval_s`), and edited a last time with the sources; extra parts and a file follow.

Exactly once: a message already posted for an answer (before a crash) is found through
MessageRefs and edited instead of posting again, and every post carries a nonce derived from
the answer and the part, which Discord enforces (`enforce_nonce`, set by discord.py whenever a
nonce is given), so a retried POST returns the message it already created."""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import discord

from adapters.platforms.discord.errors import DiscordUnavailable, discord_call
from adapters.platforms.discord.translate import (
    PLATFORM,
    nonce_for,
    render_answer,
    render_draft,
    reply_plan,
    split_message,
)
from adapters.platforms.discord.working import WorkInProgress
from domain.conversation import Answer, MessageRefs, PostedMessage
from domain.snippets import SnippetReply

log = logging.getLogger(__name__)
NO_MENTIONS = discord.AllowedMentions.none()
RATING_SEEDS = ("👍", "👎")  # one click to rate; the bot's own reactions are never counted


@dataclass
class _Live:
    channel_id: str
    message_id: str
    edited_at: float
    text: str


class DiscordReplies:
    def __init__(
        self, channel: Callable[[str], discord.PartialMessageable], work: WorkInProgress,
        edit_interval_s: float,
    ) -> None:  # fmt: skip
        self._channel = channel
        self._work = work
        self._edit_interval_s = edit_interval_s
        self._live: dict[str, _Live] = {}
        self.refs: MessageRefs | None = None  # set by DiscordService.bind

    @property
    def in_flight(self) -> int:
        return len(self._live)

    async def draft(
        self, answer_id: str, channel_id: str, thread_id: str | None, text_so_far: str
    ) -> None:
        live = self._live.get(answer_id)
        if live is not None and time.monotonic() - live.edited_at < self._edit_interval_s:
            return  # paced: the final edit in `send` shows everything anyway
        text = render_draft(text_so_far)
        try:
            if live is None:
                await self._first(answer_id, channel_id, thread_id, text)
            elif text != live.text:
                await self._edit(live, text)
        except DiscordUnavailable as error:  # a lost draft is only cosmetic
            log.warning("draft of answer %s not shown: %s", answer_id, error)

    async def send(self, channel_id: str, thread_id: str | None, answer: Answer) -> None:
        """The final answer. Raises DiscordUnavailable when Discord refuses it: the outbox job
        stays pending and is retried, and the retry edits what was already posted."""
        plan = reply_plan(render_answer(answer))
        answer_id = answer.answer_id
        live = self._live.get(answer_id)
        if live is None:
            live = await self._first(answer_id, channel_id, thread_id, plan.parts[0])
        elif plan.parts[0] != live.text:
            await self._edit(live, plan.parts[0])
        extra: list[tuple[str, discord.File | None]] = [(part, None) for part in plan.parts[1:]]
        if plan.attachment is not None:
            extra.append(("", discord.File(io.BytesIO(plan.attachment.encode()), "answer.md")))
        for index, (part, file) in enumerate(extra, start=1):
            message = await self._post(live.channel_id, part, nonce_for(answer_id, index),
                                       reply_to=None, file=file)  # fmt: skip
            await self._remember(live.channel_id, str(message.id), answer_id, thread_id)
        await self._seed_ratings(live)
        self._live.pop(answer_id, None)
        self._work.done(answer_id)

    async def post_snippet_reply(
        self, channel_id: str, reply_to: str | None, reply: SnippetReply, key: str
    ) -> None:
        """A snippet's result, as a reply to the message that asked (whole output attached)."""
        file = None
        if reply.attachment is not None:
            file = discord.File(io.BytesIO(reply.attachment.encode()), "output.txt")
        parts = split_message(reply.text)
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            await self._post(channel_id, part, nonce_for(key, index),
                             reply_to=reply_to if index == 0 else None,
                             file=file if last else None)  # fmt: skip

    async def _first(
        self, answer_id: str, channel_id: str, thread_id: str | None, text: str
    ) -> _Live:
        """The answer's first message: the one posted before a crash, edited, or a new reply."""
        assert self.refs is not None, "DiscordService.bind was not called"
        earlier = await self.refs.posted(PLATFORM, answer_id)
        if earlier is not None:
            live = _Live(earlier.channel_id, earlier.message_id, 0.0, "")
            await self._edit(live, text)
        else:
            reply_to = self._work.reply_to(answer_id)
            if reply_to is None and thread_id is not None and thread_id != channel_id:
                reply_to = thread_id  # after a restart: the conversation's first question
            message = await self._post(channel_id, text, nonce_for(answer_id, 0), reply_to)
            live = _Live(channel_id, str(message.id), time.monotonic(), text)
            await self._remember(channel_id, live.message_id, answer_id, thread_id)
        self._live[answer_id] = live
        self._work.posted(answer_id)
        return live

    async def _post(
        self, channel_id: str, text: str, nonce: str, reply_to: str | None,
        file: discord.File | None = None,
    ) -> discord.Message:  # fmt: skip
        channel = self._channel(channel_id)
        options: dict[str, Any] = {"nonce": nonce, "allowed_mentions": NO_MENTIONS}
        if reply_to is not None:
            options["reference"] = discord.MessageReference(
                message_id=int(reply_to), channel_id=int(channel_id), fail_if_not_exists=False
            )
        if file is not None:
            options["file"] = file
        async with discord_call("posting a message"):
            return await channel.send(text or None, **options)

    async def _edit(self, live: _Live, text: str) -> None:
        message = self._channel(live.channel_id).get_partial_message(int(live.message_id))
        async with discord_call("editing a message"):
            await message.edit(content=text, allowed_mentions=NO_MENTIONS)
        live.text, live.edited_at = text, time.monotonic()

    async def _remember(
        self, channel_id: str, message_id: str, answer_id: str, thread_id: str | None
    ) -> None:
        assert self.refs is not None, "DiscordService.bind was not called"
        await self.refs.remember(
            PostedMessage(PLATFORM, channel_id, message_id, answer_id, thread_id)
        )

    async def _seed_ratings(self, live: _Live) -> None:
        message = self._channel(live.channel_id).get_partial_message(int(live.message_id))
        for emoji in RATING_SEEDS:
            try:
                async with discord_call("adding a rating reaction"):
                    await message.add_reaction(emoji)
            except DiscordUnavailable as error:  # an affordance, not part of the answer
                log.info("%s", error)
                return
