"""`/buddy ask|run|help` and the admin subcommands (stats, export, retrain, models, promote,
rollback, forget, optout, optin, exclude-channel, audit, scope). Discord wants an interaction
answered within 3 seconds, so each subcommand defers first and follows up when the work is done.
An admin command's replies are for the admin alone (ephemeral), its long work reports in the
channel as replies to its first line, and an export arrives as a direct message.

`/buddy ask` echoes the question as its follow-up and the answer then arrives like any other:
a reply to that message, posted by the answer worker through the channel (an interaction
token lives 15 minutes; an outbox job may be resumed after a restart, later than that)."""

from __future__ import annotations

import io
import logging
from typing import Literal

import discord
from discord import app_commands

from adapters.platforms.common import HELP, run_or_explain
from adapters.platforms.discord.translate import (
    PLATFORM,
    inert,
    person_of,
    split_message,
)
from adapters.platforms.discord.working import WorkInProgress
from domain.admin import AdminFile, AdminRequest, admin_help
from domain.conversation import Question
from domain.errors import BuddyError
from domain.inbound import InboundHandlers
from domain.privacy_service import Person
from domain.rate_limits import RateLimited
from domain.snippets import Snippet

log = logging.getLogger(__name__)
NO_MENTIONS = discord.AllowedMentions.none()


class BuddyCommands(app_commands.Group):
    def __init__(self, handlers: InboundHandlers, work: WorkInProgress) -> None:
        super().__init__(name="buddy", description="Ask Buddy, run a snippet, admin commands")
        self._handlers = handlers
        self._work = work

    @app_commands.command(description="Ask a question about the team's docs and code")
    @app_commands.describe(question="What you want to know")
    async def ask(self, interaction: discord.Interaction, question: str) -> None:
        await interaction.response.defer(thinking=True)
        name = inert(interaction.user.display_name)
        echo = await interaction.followup.send(
            f"**{name} asked:** {inert(question)}"[:2000], allowed_mentions=NO_MENTIONS, wait=True
        )
        channel_id = str(interaction.channel_id)
        asked = Question(_person(interaction), channel_id, question, str(echo.id),
                         f"{PLATFORM}:{interaction.id}")  # fmt: skip
        try:
            answer_id = await self._handlers.accept(asked)
        except RateLimited as limited:
            await _say(interaction, str(limited))
            return
        except BuddyError as error:
            await _say(interaction, f"Could not take the question: {error}")
            return
        self._work.start(answer_id, channel_id, reply_to=str(echo.id))

    @app_commands.command(description="Run a snippet in the sandbox")
    @app_commands.describe(code="The code to run", language="python, bash, javascript, ...")
    async def run(
        self, interaction: discord.Interaction, code: str, language: str = "python"
    ) -> None:
        await interaction.response.defer(thinking=True)
        snippet = Snippet(_person(interaction), str(interaction.channel_id), language, code)
        reply = await run_or_explain(self._handlers, snippet)
        file = None
        if reply.attachment is not None:
            file = discord.File(io.BytesIO(reply.attachment.encode()), "output.txt")
        await _say(interaction, reply.text, file=file)

    @app_commands.command(description="What Buddy does and how to use it")
    @app_commands.describe(admin="Show the admin commands")
    async def help(self, interaction: discord.Interaction, admin: bool = False) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        await _say(interaction, admin_help("/buddy") if admin else HELP, ephemeral=True)

    # -- admin commands (BUDDY_ADMINS): the console authorises, runs and records them ----------

    @app_commands.command(description="Admins: figures and a chart")
    async def stats(self, interaction: discord.Interaction) -> None:
        await self._admin(interaction, "stats")

    @app_commands.command(description="Admins: the curated dataset as JSONL, sent to you")
    @app_commands.describe(split="Which part of the dataset")
    async def export(
        self, interaction: discord.Interaction,
        split: Literal["all", "train", "eval", "pairs"] = "all",
    ) -> None:  # fmt: skip
        await self._admin(interaction, "export", split)

    @app_commands.command(description="Admins: curate, train, evaluate; progress in the channel")
    async def retrain(self, interaction: discord.Interaction) -> None:
        await self._admin(interaction, "retrain")

    @app_commands.command(description="Admins: every model version and its figures")
    async def models(self, interaction: discord.Interaction) -> None:
        await self._admin(interaction, "models")

    @app_commands.command(description="Admins: serve a version now (over the gate)")
    @app_commands.describe(version="v1, v2, ... or base")
    async def promote(self, interaction: discord.Interaction, version: str) -> None:
        await self._admin(interaction, "promote", version)

    @app_commands.command(description="Admins: serve the version served before")
    async def rollback(self, interaction: discord.Interaction) -> None:
        await self._admin(interaction, "rollback")

    @app_commands.command(description="Admins: erase a user's stored text for good")
    async def forget(self, interaction: discord.Interaction, user: discord.User) -> None:
        await self._admin(interaction, "forget", str(user.id))

    @app_commands.command(description="Admins: keep a user out of training")
    async def optout(self, interaction: discord.Interaction, user: discord.User) -> None:
        await self._admin(interaction, "optout", str(user.id))

    @app_commands.command(description="Admins: undo an opt-out")
    async def optin(self, interaction: discord.Interaction, user: discord.User) -> None:
        await self._admin(interaction, "optin", str(user.id))

    @app_commands.command(name="exclude-channel", description="Admins: keep a channel out of "
                          "training")  # fmt: skip
    @app_commands.describe(channel="A #channel mention or its id")
    async def exclude_channel(self, interaction: discord.Interaction, channel: str) -> None:
        await self._admin(interaction, "exclude-channel", channel)

    @app_commands.command(description="Admins: the admin commands issued lately")
    async def audit(self, interaction: discord.Interaction) -> None:
        await self._admin(interaction, "audit")

    @app_commands.command(description="Admins: answer in this channel from some sources only")
    @app_commands.describe(sources="Source names, space-separated; 'all': every source; "
                           "empty: show the scope")  # fmt: skip
    async def scope(self, interaction: discord.Interaction, sources: str = "") -> None:
        await self._admin(interaction, "scope", *sources.split())

    async def _admin(self, interaction: discord.Interaction, command: str, *args: str) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        replies = DiscordAdminReplies(interaction)
        if self._handlers.admin is None:
            await replies.say("Admin commands are not available on this Buddy.")
            return
        request = AdminRequest(_person(interaction), str(interaction.channel_id), command, args)
        await self._handlers.admin(request, replies)


class DiscordAdminReplies:
    """An admin command's replies: ephemeral follow-ups to the admin, progress as messages in
    the channel (each replying to the first), private files in a direct message."""

    def __init__(self, interaction: discord.Interaction) -> None:
        self._interaction = interaction
        self._first: discord.Message | None = None

    async def say(self, text: str) -> None:
        await _say(self._interaction, text, ephemeral=True)

    async def progress(self, text: str) -> None:
        # The channel, not follow-ups: an interaction's token lives 15 minutes, training longer.
        channel = self._interaction.client.get_partial_messageable(
            self._interaction.channel_id or 0
        )
        text = inert(text)[:2000]
        if self._first is None:
            self._first = await channel.send(text, allowed_mentions=NO_MENTIONS)
        else:
            await channel.send(text, allowed_mentions=NO_MENTIONS, reference=self._first)

    async def upload(self, file: AdminFile) -> None:
        attached = discord.File(io.BytesIO(file.content), file.name)
        comment = inert(file.comment)[:2000]
        if file.private:
            direct = await self._interaction.user.create_dm()
            await direct.send(comment, file=attached, allowed_mentions=NO_MENTIONS)
        else:
            await self._interaction.followup.send(
                comment, file=attached, ephemeral=True, allowed_mentions=NO_MENTIONS
            )


def _person(interaction: discord.Interaction) -> Person:
    guild = None if interaction.guild_id is None else str(interaction.guild_id)
    return person_of(guild, str(interaction.user.id))


async def _say(
    interaction: discord.Interaction, text: str, *, ephemeral: bool = False,
    file: discord.File | None = None,
) -> None:  # fmt: skip
    parts = split_message(inert(text))
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        if last and file is not None:
            await interaction.followup.send(part, ephemeral=ephemeral, file=file,
                                            allowed_mentions=NO_MENTIONS)  # fmt: skip
        else:
            await interaction.followup.send(part, ephemeral=ephemeral,
                                            allowed_mentions=NO_MENTIONS)  # fmt: skip
