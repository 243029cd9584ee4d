"""Slack events to domain commands: mentions, direct messages and follow-ups in the bot's
threads become questions (stored before the ack), reactions on answers become ratings, and
"run this" or ▶️ runs a snippet after the ack. A question refused by a rate limit is acked and
answered in its thread with when to try again (nothing was stored)."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp

from adapters.platforms.common import BackgroundWork, run_or_explain
from adapters.platforms.slack import translate
from adapters.platforms.slack.client import SlackWeb
from adapters.platforms.slack.replies import SlackReplies
from adapters.platforms.slack.translate import PLATFORM
from adapters.platforms.slack.working import WorkInProgress
from domain.inbound import InboundHandlers
from domain.rate_limits import RateLimited
from domain.snippets import RUN_REACTIONS, Snippet

log = logging.getLogger(__name__)


class SlackInbound:
    def __init__(
        self, handlers: InboundHandlers, replies: SlackReplies, work: WorkInProgress,
        web: SlackWeb, background: BackgroundWork, bot_user_id: str,
    ) -> None:  # fmt: skip
        self._handlers = handlers
        self._replies = replies
        self._work = work
        self._web = web
        self._background = background
        self._bot = bot_user_id

    def register(self, app: AsyncApp) -> None:
        app.event("app_mention")(self.on_mention)
        app.event("message")(self.on_message)
        app.event("reaction_added")(self.on_reaction)
        app.event("reaction_removed")(self.on_reaction)

    async def on_mention(self, body: dict[str, Any]) -> None:
        if translate.from_a_bot(body["event"], self._bot):
            return
        await self._take(body)

    async def on_message(self, body: dict[str, Any]) -> None:
        event = body["event"]
        kind = translate.message_kind(event, self._bot)
        if kind in ("edited", "deleted"):
            await self._changed(body, kind)
        elif kind == "direct" or (kind == "channel" and await self._follow_up(event)):
            await self._take(body)

    async def _changed(self, body: dict[str, Any], kind: str) -> None:
        """An edited or deleted question: stored (a deletion shreds it) before the ack."""
        change = translate.question_change(body, self._bot)
        if change is None or self._handlers.change_question is None:
            return
        recorded = await self._handlers.change_question(change)
        log.info("Slack: a message was %s: %s", kind, recorded or "not a question")

    async def _follow_up(self, event: dict[str, Any]) -> bool:
        """A reply in a thread the bot answers in. One that mentions the bot is left to its
        app_mention event (Slack sends both; the message key would store it once anyway)."""
        thread = event.get("thread_ts")
        if not thread or thread == event.get("ts"):
            return False
        if translate.mentions(str(event.get("text") or ""), self._bot):
            return False
        return await self._handlers.refs.bot_thread(PLATFORM, event["channel"], thread)

    async def _take(self, body: dict[str, Any]) -> None:
        event = body["event"]
        snippet = translate.snippet_asked(body, self._bot)
        thread = event.get("thread_ts") or event["ts"]
        if snippet is not None:  # runs take seconds: after the ack, once per event id
            work = self._run(snippet, event["channel"], thread)
            self._background.start(work, "snippet run", key=body.get("event_id"))
            return
        question = translate.question_from(body, self._bot)
        if not question.text:
            return  # a bare mention: nothing to answer
        try:
            answer_id = await self._handlers.accept(question)  # stored before Slack's ack
        except RateLimited as limited:  # nothing stored: said in the thread, and acked
            reply = self._refuse(event["channel"], thread, limited)
            self._background.start(reply, "rate limit reply")
            return
        self._work.start(answer_id, event["channel"], event["ts"])

    async def _refuse(self, channel: str, thread: str, limited: RateLimited) -> None:
        """The friendly "try again in ..." in the thread. Never raised into the listener (Slack
        would retry the event): a reply that cannot be posted is logged by the background."""
        await self._web.post(channel, thread, translate.render(str(limited)))

    async def on_reaction(self, body: dict[str, Any]) -> None:
        event = body["event"]
        where = translate.reacted_message(event)
        if where is None:
            return
        channel, ts = where
        answer_id = await self._handlers.refs.answer_for(PLATFORM, channel, ts)
        if answer_id is not None:
            outcome = await self._handlers.rate(translate.reaction_from(body, answer_id, self._bot))
            log.debug("Slack: reaction on %s: %s", answer_id, outcome.reason)
            return
        user = str(event.get("user") or "")
        wants_run = event.get("type") == "reaction_added" and event.get("reaction") in RUN_REACTIONS
        if wants_run and user and user != self._bot:
            self._background.start(
                self._run_reacted(body, channel, ts), "▶️ run", key=body.get("event_id")
            )

    async def _run_reacted(self, body: dict[str, Any], channel: str, ts: str) -> None:
        message = await self._web.message(channel, ts)
        if message is None or translate.from_a_bot(message, self._bot):
            return
        who = translate.person(body, str(body["event"]["user"]))
        snippet = translate.snippet_in_message(who, channel, str(message.get("text") or ""))
        if snippet is not None:
            await self._run(snippet, channel, str(message.get("thread_ts") or ts))

    async def _run(self, snippet: Snippet, channel: str, thread: str) -> None:
        reply = await run_or_explain(self._handlers, snippet)
        await self._replies.post_snippet(channel, thread, reply)
