"""`/buddy ask|run|help` and the admin commands (`/buddy stats|export|retrain|...`): acked at
once (Slack allows 3 seconds), the work done after the ack, results posted through the
command's response_url (ephemeral, or in the channel for runs). An admin command's long work
reports in a thread in the channel; files go to the channel (the stats chart) or, private ones
(an export), to a direct message with the admin."""

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
from domain.admin import AdminConsole, AdminFile, AdminRequest, admin_help
from domain.conversation import Question
from domain.inbound import InboundHandlers
from domain.rate_limits import RateLimited
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
            admin = command.argument.strip().lower() == "admin"
            await _say(ack, to_mrkdwn(admin_help(COMMAND)) if admin else HELP)
        elif AdminConsole.handles(command.name):
            await _say(ack, WORKING)
            self._background.start(self._admin(command, respond), f"{COMMAND} {command.name}")
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
        try:
            await self._handlers.accept(question)  # stored before the ack; the worker answers
        except RateLimited as limited:  # nothing stored: the user is told when to try again
            await _say(ack, str(limited))
            return
        await _say(ack, WORKING)

    async def _admin(self, command: SlashCommand, respond: AsyncRespond) -> None:
        replies = SlackAdminReplies(self._web, respond, command)
        if self._handlers.admin is None:
            await replies.say("Admin commands are not available on this Buddy.")
            return
        request = AdminRequest.parse(
            command.person, command.channel_id, f"{command.name} {command.argument}"
        )
        await self._handlers.admin(request, replies)

    async def _run(self, snippet: Snippet, respond: AsyncRespond) -> None:
        reply = await run_or_explain(self._handlers, snippet)
        message = translate.render(reply.text)
        _check(await respond(text=message.text, blocks=message.blocks, response_type="in_channel"))
        whole = reply.attachment or message.attachment
        if whole is not None:
            await self._web.upload(snippet.channel_id, None, whole, "output.txt")


class SlackAdminReplies:
    """An admin command's replies: to the admin (the response_url, ephemeral), progress in one
    thread in the channel, files to the channel or to a direct message."""

    def __init__(self, web: SlackWeb, respond: AsyncRespond, command: SlashCommand) -> None:
        self._web = web
        self._respond = respond
        self._channel = command.channel_id
        self._user = command.person.user_id
        self._thread: str | None = None

    async def say(self, text: str) -> None:
        message = translate.render(text)
        _check(await self._respond(text=message.text, response_type="ephemeral"))

    async def progress(self, text: str) -> None:
        ts = await self._web.post(self._channel, self._thread, translate.render(text))
        self._thread = self._thread or ts  # the first line starts the thread

    async def upload(self, file: AdminFile) -> None:
        channel = await self._web.direct_channel(self._user) if file.private else self._channel
        await self._web.upload_file(channel, file.content, file.name, to_mrkdwn(file.comment))


async def _say(ack: AsyncAck, text: str) -> None:
    """Ack with a message only the user sees (mrkdwn: no raw `<` in it)."""
    await ack(text=text, response_type="ephemeral")


def _check(response: WebhookResponse) -> None:
    if response.status_code != 200:  # an expired response_url (30 minutes) or a deleted channel
        raise SlackUnavailable(
            f"Slack response_url refused: {response.status_code} {response.body}"
        )
