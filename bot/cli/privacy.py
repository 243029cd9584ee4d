"""The privacy commands of the `buddy` CLI: scrub, forget, optout, optin, exclude-channel."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from bot.cli.common import JsonFlag, print_json, run
from bot.settings import Settings
from domain.privacy_service import Person

if TYPE_CHECKING:
    from bot.bootstrap import Services

Workspace = Annotated[
    str,
    typer.Option("--workspace", help="The platform workspace (Slack team, Discord: 'default')."),
]
DEFAULT_WORKSPACE = "default"


def scrub_stdin(as_json: bool) -> None:
    from adapters.privacy.scrubber import PatternScrubber

    result = PatternScrubber().scrub(sys.stdin.read())
    if as_json:
        findings = [{"type": f.kind, "start": f.start, "end": f.end} for f in result.findings]
        print_json({"text": result.text, "findings": findings})
    else:
        sys.stdout.write(result.text)


async def forget(settings: Settings, person: Person, as_json: bool) -> None:
    from bot.bootstrap import bootstrap

    async with bootstrap(settings) as services:
        erasure = await (await services.privacy()).forget(person)
        await _consent_changed(services)
    _report(
        as_json,
        {"user": erasure.user, "keys_shredded": erasure.keys_shredded},
        f"erased user {erasure.user[:12]}…: {erasure.keys_shredded} data keys shredded",
    )


async def consent(settings: Settings, person: Person, opt_out: bool, as_json: bool) -> None:
    from bot.bootstrap import bootstrap

    async with bootstrap(settings) as services:
        privacy = await services.privacy()
        user = await (privacy.opt_out(person) if opt_out else privacy.opt_in(person))
        await _consent_changed(services)
    state = "opted_out" if opt_out else "opted_in"
    _report(as_json, {"user": user, "state": state}, f"user {user[:12]}… is now {state}")


async def exclude_channel(
    settings: Settings, platform: str, workspace: str, channel_id: str, as_json: bool
) -> None:
    from bot.bootstrap import bootstrap

    async with bootstrap(settings) as services:
        channel = await (await services.privacy()).exclude_channel(platform, workspace, channel_id)
        await _consent_changed(services)
    _report(as_json, {"channel": channel, "state": "excluded"}, f"channel {channel[:12]}… excluded")


async def _consent_changed(services: Services) -> None:
    from bot.operations.datasets import consent_changed

    await consent_changed(services)


def _report(as_json: bool, document: dict[str, object], line: str) -> None:
    if as_json:
        print_json(document)
    else:
        typer.echo(line)


def register(app: typer.Typer) -> None:
    """Adds the privacy commands to the CLI."""

    @app.command()
    def scrub(json_output: JsonFlag = False) -> None:
        """Read stdin, print it scrubbed of PII and secrets (the pipeline's own scrubber)."""
        scrub_stdin(json_output)

    @app.command("forget")
    def forget_command(
        platform: str,
        user_id: str,
        workspace: Workspace = DEFAULT_WORKSPACE,
        json_output: JsonFlag = False,
    ) -> None:
        """Crypto-shred one user: their stored text can never be read again."""
        person = Person(platform, workspace, user_id)
        run(lambda settings: forget(settings, person, json_output))

    @app.command()
    def optout(
        platform: str,
        user_id: str,
        workspace: Workspace = DEFAULT_WORKSPACE,
        json_output: JsonFlag = False,
    ) -> None:
        """Keep a user's conversations out of training and exports (Buddy still answers them)."""
        person = Person(platform, workspace, user_id)
        run(lambda settings: consent(settings, person, True, json_output))

    @app.command()
    def optin(
        platform: str,
        user_id: str,
        workspace: Workspace = DEFAULT_WORKSPACE,
        json_output: JsonFlag = False,
    ) -> None:
        """Undo an opt-out."""
        person = Person(platform, workspace, user_id)
        run(lambda settings: consent(settings, person, False, json_output))

    @app.command("exclude-channel")
    def exclude_channel_command(
        platform: str,
        channel_id: str,
        workspace: Workspace = DEFAULT_WORKSPACE,
        json_output: JsonFlag = False,
    ) -> None:
        """Keep a whole channel out of training and exports."""
        run(
            lambda settings: exclude_channel(settings, platform, workspace, channel_id, json_output)
        )
