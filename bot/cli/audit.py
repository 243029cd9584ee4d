"""`buddy audit`: the admin commands issued from chat (and refused attempts), by whom as a
pseudonym, with their outcome; the same record `/buddy audit` shows."""

from __future__ import annotations

import typer

from bot.cli.common import JsonFlag, print_json, run
from bot.settings import Settings


async def audit(settings: Settings, as_json: bool) -> None:
    from bot.bootstrap import bootstrap
    from domain.admin import audit_entries

    async with bootstrap(settings) as services:
        entries = await audit_entries(services.store)
    if as_json:
        print_json({"commands": [entry.as_json() for entry in entries]})
    elif entries:
        typer.echo("\n".join(entry.line() for entry in entries))
    else:
        typer.echo("no admin commands yet")


def register(app: typer.Typer) -> None:
    @app.command("audit")
    def audit_command(json_output: JsonFlag = False) -> None:
        """Admin commands issued from chat, refused ones too: when, who (a pseudonym), outcome."""
        run(lambda settings: audit(settings, json_output))
