"""`/buddy ask|run|stats|help`: acked at once (Slack allows 3 seconds), the work done after the
ack, results posted through the command's response_url (ephemeral, or in the channel for runs)."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.webhook import WebhookResponse

from adapters.platforms.common import HELP as HELP_MARKDOWN
from adapters.platforms.common import BackgroundWork, run_or_explain
from adapters.platforms.slack import translate
from adapters.platforms.slack.client import SlackWeb
from adapters.platforms.slack.errors import SlackUnavailable
from adapters.platforms.slack.mrkdwn import inert, to_mrkdwn
from adapters.platforms.slack.translate import SlashCommand
from domain.conversation import Question
from domain.inbound import InboundHandlers
from domain.snippets import Snippet

log = logging.getLogger(__name__)
COMMAND = "/buddy"
WORKING = "Working on it…"
HELP = to_mrkdwn(HELP_MARKDOWN)
RUN_USAGE = "Usage: `/buddy run CODE`, or a fenced code block after `/buddy run`."


class SlashCommands:
    def __init__(
        self, handlers: InboundHandlers, web: SlackWeb, background: BackgroundWork
    ) -> None:
        self._handlers = handlers
        self._web = web
        self._background = background

    def register(self, app: AsyncApp) -> None:
        app.command(COMMAND)(self.on_command)

    async def on_command(self, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        command = translate.slash_command(body)
        if command.name == "help":
            await _say(ack, HELP)
        elif command.name == "stats":
            await _say(ack, WORKING)
            self._background.start(self._stats(respond), "/buddy stats")
        elif command.name == "ask":
            await self._ask(ack, command)
        elif command.name == "run":
            snippet = translate.snippet_from_command(command)
            if snippet is None:
                await _say(ack, RUN_USAGE)
                return
            await _say(ack, WORKING)
            self._background.start(self._run(snippet, respond), "/buddy run")
        else:
            await _say(ack, f"I don't know `{inert(command.name)}`.\n{HELP}")

    async def _ask(self, ack: AsyncAck, command: SlashCommand) -> None:
        if not command.argument.strip():
            await _say(ack, "Usage: `/buddy ask QUESTION`")
            return
        question = Question(
            command.person, command.channel_id, command.argument.strip(), None,
            platform_event_id=command.trigger_id,
        )  # fmt: skip
        await self._handlers.accept(question)  # stored before the ack; the worker answers
        await _say(ack, WORKING)

    async def _stats(self, respond: AsyncRespond) -> None:
        text = await self._handlers.stats_text()
        _check(await respond(text=translate.render(text).text, response_type="ephemeral"))

    async def _run(self, snippet: Snippet, respond: AsyncRespond) -> None:
        reply = await run_or_explain(self._handlers, snippet)
        message = translate.render(reply.text)
        _check(await respond(text=message.text, blocks=message.blocks, response_type="in_channel"))
        whole = reply.attachment or message.attachment
        if whole is not None:
            await self._web.upload(snippet.channel_id, None, whole, "output.txt")


async def _say(ack: AsyncAck, text: str) -> None:
    """Ack with a message only the user sees (mrkdwn: no raw `<` in it)."""
    await ack(text=text, response_type="ephemeral")


def _check(response: WebhookResponse) -> None:
    if response.status_code != 200:  # an expired response_url (30 minutes) or a deleted channel
        raise SlackUnavailable(
            f"Slack response_url refused: {response.status_code} {response.body}"
        )
