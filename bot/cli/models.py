"""The model registry's commands: `buddy models` lists every version with its lineage, `buddy
promote VERSION` serves one (an admin's choice, over the gate), `buddy rollback` serves the one
before. A running `buddy serve` picks the change up within seconds. No model is loaded here."""

from __future__ import annotations

import getpass
from typing import TYPE_CHECKING, Annotated

import typer

from bot.cli.common import JsonFlag, print_json, run
from bot.operations.models import models_json, models_lines
from bot.settings import Settings

if TYPE_CHECKING:
    from bot.bootstrap import Services


async def models(settings: Settings, as_json: bool) -> None:
    from bot.bootstrap import bootstrap

    async with bootstrap(settings) as services:
        state = await services.model_registry().state()
    document = models_json(state, settings)
    if as_json:
        print_json(document)
    else:
        typer.echo("\n".join(models_lines(document)))


async def admin(services: Services) -> str:
    """Who ran an admin command, as the local channel names its users: a pseudonym of the OS
    login (the same one `buddy ask` stores), never the login itself."""
    from adapters.platforms.local.channel import LocalChannel
    from domain.privacy_service import Person

    privacy = await services.privacy()
    return privacy.pseudonym(
        Person(LocalChannel.platform, LocalChannel.workspace, getpass.getuser())
    )


async def promote(settings: Settings, version: str, as_json: bool) -> None:
    from bot.bootstrap import bootstrap

    async with bootstrap(settings) as services:
        promoted = await services.model_registry().promote(
            version, reason="admin", by=await admin(services)
        )
    if as_json:
        print_json(promoted)
    else:
        typer.echo(f"promoted {promoted['version']} (was {promoted['previous']})")


async def rollback(settings: Settings, as_json: bool) -> None:
    from bot.bootstrap import bootstrap

    async with bootstrap(settings) as services:
        by = await admin(services)
        rolled = await services.model_registry().rollback("admin", {"by": by})
    if as_json:
        print_json(rolled)
    else:
        typer.echo(f"rolled back {rolled['from_version']} -> {rolled['to_version']}")


def register(app: typer.Typer) -> None:
    @app.command("models")
    def models_command(json_output: JsonFlag = False) -> None:
        """Every model version with its lineage (* marks the served one)."""
        run(lambda s: models(s, json_output))

    @app.command("promote")
    def promote_command(
        version: Annotated[str, typer.Argument(help="The version to serve (v1, v2, ... or base).")],
        json_output: JsonFlag = False,
    ) -> None:
        """Serve VERSION now (an admin's choice: it overrides the evaluation gate)."""
        run(lambda s: promote(s, version, json_output))

    @app.command("rollback")
    def rollback_command(json_output: JsonFlag = False) -> None:
        """Serve the version served before the current one again."""
        run(lambda s: rollback(s, json_output))
