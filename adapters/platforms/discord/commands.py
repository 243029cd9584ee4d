"""`/buddy ask|run|stats|help`. Discord wants an interaction answered within 3 seconds, so each
subcommand defers first and follows up when the work is done.

`/buddy ask` echoes the question as its follow-up and the answer then arrives like any other:
a reply to that message, posted by the answer worker through the channel (an interaction
token lives 15 minutes; an outbox job may be resumed after a restart, later than that)."""

from __future__ import annotations

import io
import logging

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
from domain.conversation import Question
from domain.errors import BuddyError
from domain.inbound import InboundHandlers
from domain.privacy_service import Person
from domain.snippets import Snippet

log = logging.getLogger(__name__)
NO_MENTIONS = discord.AllowedMentions.none()


class BuddyCommands(app_commands.Group):
    def __init__(self, handlers: InboundHandlers, work: WorkInProgress) -> None:
        super().__init__(name="buddy", description="Ask Buddy, run a snippet, see the stats")
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

    @app_commands.command(description="Questions, answers and ratings so far")
    async def stats(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            text = await self._handlers.stats_text()
        except BuddyError as error:
            text = f"Stats are not available: {error}"
        await _say(interaction, text, ephemeral=True)

    @app_commands.command(description="What Buddy does and how to use it")
    async def help(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        await _say(interaction, HELP, ephemeral=True)


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
