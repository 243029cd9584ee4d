"""Gateway events in, domain calls out. A message is for Buddy when it mentions the bot, is a DM,
replies to one of Buddy's answers, or is posted in a thread Buddy answers in (or started); it
becomes a question (`accept`) or, with "run this" and a code block, a snippet run. Raw reaction
events (messages not in the cache count too) become ratings, or a run for ▶️. A question refused
by a rate limit gets a reply saying when to try again (nothing was stored); its message stays
seen, so a replayed session does not say it twice."""

from __future__ import annotations

import logging

import discord

from adapters.platforms.common import SeenIds, run_or_explain
from adapters.platforms.discord.backfill import ActiveChannels
from adapters.platforms.discord.errors import discord_call
from adapters.platforms.discord.replies import DiscordReplies
from adapters.platforms.discord.translate import (
    PLATFORM,
    IncomingMessage,
    mentions,
    person_of,
    question_from,
    snippet_from,
)
from adapters.platforms.discord.working import WorkInProgress
from domain.errors import BuddyError
from domain.feedback import Reaction
from domain.inbound import InboundHandlers
from domain.question_changes import QuestionChange
from domain.rate_limits import RateLimited
from domain.snippets import RUN_REACTIONS, Snippet, SnippetReply

log = logging.getLogger(__name__)
_REMEMBERED = 10_000  # message ids handled: resumed sessions replay, back-fill re-reads


class DiscordInbound:
    def __init__(
        self, client: discord.Client, handlers: InboundHandlers, replies: DiscordReplies,
        work: WorkInProgress, active: ActiveChannels,
    ) -> None:  # fmt: skip
        self._client = client
        self._handlers = handlers
        self._replies = replies
        self._work = work
        self._active = active
        self._seen = SeenIds(_REMEMBERED)

    @property
    def _bot_id(self) -> str:
        assert self._client.user is not None, "not logged in"
        return str(self._client.user.id)

    async def on_message(self, message: discord.Message) -> None:
        self._active.saw(str(message.channel.id), str(message.id))
        if message.author.bot or not self._seen.first_time(f"message:{message.id}"):
            return
        incoming = incoming_of(message)
        try:
            thread_id = await self._conversation(message, incoming)
            if thread_id is None:
                return
            snippet = snippet_from(incoming, asked=False)
            if snippet is not None:
                await self._run(snippet, incoming.channel_id, incoming.message_id)
                return
            question = question_from(incoming, self._bot_id, thread_id)
            if question is None:
                return
            answer_id = await self._handlers.accept(question)
        except RateLimited as limited:  # nothing stored: the asker is told when to try again
            await self._refuse(incoming, limited)
            return
        except BuddyError as error:  # logged; the client and the other events carry on
            log.error("discord: a message was not taken: %s", error)
            return
        self._active.track(incoming.channel_id, incoming.guild_id, incoming.message_id)
        self._work.start(answer_id, incoming.channel_id, reply_to=incoming.message_id)

    async def _refuse(self, incoming: IncomingMessage, limited: RateLimited) -> None:
        """Reply to the refused message with the friendly "try again in ..."; a reply that
        cannot be posted is logged, never raised into the client."""
        try:
            await self._replies.post_snippet_reply(
                incoming.channel_id, incoming.message_id, SnippetReply(str(limited)),
                f"limited:{incoming.message_id}",
            )  # fmt: skip
        except BuddyError as error:
            log.error("discord: a rate limit reply was not posted: %s", error)

    async def _conversation(
        self, message: discord.Message, incoming: IncomingMessage
    ) -> str | None:
        """The thread id a message to Buddy belongs to, or None when it is not for Buddy."""
        refs, channel_id = self._handlers.refs, incoming.channel_id
        replied = message.reference.message_id if message.reference is not None else None
        if replied is not None:  # a reply to one of Buddy's answers continues its conversation
            answer_id = await refs.answer_for(PLATFORM, channel_id, str(replied))
            posted = None if answer_id is None else await refs.posted(PLATFORM, answer_id)
            if posted is not None:
                return posted.thread_id or incoming.message_id
        channel = message.channel
        if incoming.guild_id is not None and not isinstance(channel, discord.TextChannel):
            # A thread (or a channel not in the cache): the thread is the conversation.
            owner = channel.owner_id if isinstance(channel, discord.Thread) else None
            if (
                mentions(incoming.content, self._bot_id)
                or str(owner) == self._bot_id
                or await refs.bot_thread(PLATFORM, channel_id, channel_id)
            ):
                return channel_id
            return None
        if incoming.guild_id is None or mentions(incoming.content, self._bot_id):
            return incoming.message_id  # a DM or a mention: a conversation of its own
        return None

    async def on_changed(self, message_id: str, new_text: str | None) -> None:
        """A message edited (new text) or deleted (None): if it was a question, the domain
        stores the edit or shreds the conversation."""
        change = self._handlers.change_question
        if change is None:
            return
        try:
            await change(QuestionChange(f"{PLATFORM}:{message_id}", new_text))
        except BuddyError:
            log.exception("discord: recording a change to a message failed")

    async def on_reaction(self, event: discord.RawReactionActionEvent) -> None:
        removed = event.event_type == "REACTION_REMOVE"
        emoji, user_id = str(event.emoji), str(event.user_id)
        channel_id, message_id = str(event.channel_id), str(event.message_id)
        guild_id = None if event.guild_id is None else str(event.guild_id)
        by_bot = user_id == self._bot_id
        if event.member is not None and event.member.bot and not by_bot:
            return  # other bots do not vote
        try:
            if emoji in RUN_REACTIONS and not removed and not by_bot:
                await self._run_reacted(channel_id, message_id, user_id, guild_id)
                return
            answer_id = await self._handlers.refs.answer_for(PLATFORM, channel_id, message_id)
            if answer_id is None:
                return  # not one of Buddy's answers
            # No platform event id: Discord gives reactions none, and votes are idempotent
            # (a replayed add is "already counted", a replayed remove has nothing to retract).
            reaction = Reaction(person_of(guild_id, user_id), answer_id, emoji, removed, by_bot)
            await self._handlers.rate(reaction)
        except BuddyError as error:
            log.error("discord: a reaction was not taken: %s", error)

    async def _run_reacted(
        self, channel_id: str, message_id: str, user_id: str, guild_id: str | None
    ) -> None:
        if not self._seen.first_time(f"run:{message_id}:{user_id}"):
            return
        channel = self._client.get_partial_messageable(int(channel_id))
        async with discord_call("reading the reacted message"):
            message = await channel.fetch_message(int(message_id))
        if message.author.bot:
            return
        incoming = incoming_of(message, guild_id=guild_id)
        snippet = snippet_from(incoming, asked=True)
        if snippet is not None:  # the runner is whoever asked, not who wrote it
            snippet = Snippet(person_of(guild_id, user_id), channel_id, snippet.language,
                              snippet.code)  # fmt: skip
            await self._run(snippet, channel_id, message_id, key=f"{message_id}:{user_id}")

    async def _run(
        self, snippet: Snippet, channel_id: str, reply_to: str, key: str | None = None
    ) -> None:
        reply = await run_or_explain(self._handlers, snippet)
        try:
            await self._replies.post_snippet_reply(channel_id, reply_to, reply, key or reply_to)
        except BuddyError as error:
            log.error("discord: a snippet result was not posted: %s", error)


def incoming_of(message: discord.Message, *, guild_id: str | None = None) -> IncomingMessage:
    if message.guild is not None:
        guild_id = str(message.guild.id)
    elif isinstance(message.channel, discord.PartialMessageable):
        found = message.channel.guild_id if message.channel.guild_id is not None else None
        guild_id = guild_id or (None if found is None else str(found))
    return IncomingMessage(
        str(message.id), str(message.channel.id), guild_id, str(message.author.id),
        message.content,
    )  # fmt: skip
