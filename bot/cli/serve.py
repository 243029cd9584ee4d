"""`buddy serve` (the runtime is `bot.serve`) and `buddy discord-invite`."""

from __future__ import annotations

from typing import Annotated

import typer

from bot.cli.common import run
from bot.settings import Settings
from domain.errors import BuddyError


def register(app: typer.Typer) -> None:
    @app.command()
    def serve() -> None:
        """Run the platforms that have credentials, the HTTP server and the answer worker."""
        from bot.serve.server import serve as run_server

        run(run_server)

    @app.command("discord-invite")
    def discord_invite(
        client_id: Annotated[
            str | None, typer.Option(help="The application id (default: read from DISCORD_TOKEN).")
        ] = None,
    ) -> None:
        """Print the invite URL with exactly the permissions Buddy uses on Discord."""

        async def work(settings: Settings) -> None:
            from adapters.platforms.discord.invite import client_id_from_token, invite_url

            token = settings.discord_token.get_secret_value() if settings.discord_token else ""
            found = client_id or client_id_from_token(token)
            if not found:
                raise BuddyError("give --client-id, or set DISCORD_TOKEN to the bot's token")
            typer.echo(invite_url(found))

        run(work)
