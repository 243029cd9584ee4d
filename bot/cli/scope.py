"""`buddy scope`: the knowledge sources a channel, or a whole workspace, answers from
(domain/scopes.py). `buddy scope` lists the scopes; `set` and `clear` change one."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from bot.cli.common import JsonFlag, print_json, run
from bot.settings import Settings

if TYPE_CHECKING:
    from domain.scopes import Scope

Workspace = Annotated[
    str,
    typer.Option(
        "--workspace", help="The platform workspace (Slack: the team id; Discord, local: default)."
    ),
]
DEFAULT_WORKSPACE = "default"
CHANNEL_HELP = "The channel's id (local: its name); '*': the whole workspace."


async def show(settings: Settings, as_json: bool) -> None:
    from bot.bootstrap import bootstrap

    async with bootstrap(settings) as services:
        scopes = await (await services.scopes()).scopes()
    if as_json:
        print_json({"scopes": [scope.as_json() for scope in scopes]})
        return
    for scope in scopes:
        typer.echo(_line(scope))
    if not scopes:
        typer.echo("no scopes: every channel answers from every source", err=True)


async def change(
    settings: Settings, platform: str, workspace: str, channel: str, sources: list[str],
    as_json: bool,
) -> None:  # fmt: skip
    from bot.bootstrap import bootstrap

    async with bootstrap(settings) as services:
        scopes = await services.scopes()
        after = await scopes.set(platform, workspace, channel, sources)
        key = scopes.keys(platform, workspace, channel)
    whole = channel == "*"
    if as_json:
        print_json({
            "platform": platform, "workspace": key[1], "channel": key[2],
            "sources": list(dict.fromkeys(sources)), "scope": after and after.as_json(),
        })  # fmt: skip
        return
    where = "the workspace" if whole else f"channel {key[2][:12]}…"
    if sources:
        typer.echo(f"{platform}: {where} answers only from {', '.join(dict.fromkeys(sources))}")
    elif after is None:
        typer.echo(f"{platform}: {where} answers from every source")
    else:
        typer.echo(f"{platform}: {where} follows its workspace's scope: {', '.join(after.names)}")


def _line(scope: Scope) -> str:
    channel = "* (whole workspace)" if scope.whole_workspace else f"{scope.channel[:12]}…"
    return (
        f"{scope.platform}  workspace {scope.workspace[:12]}…  channel {channel}  "
        f"sources {', '.join(scope.names)}  set {scope.set_at.isoformat()[:19]}"
    )


scope_app = typer.Typer(
    help="Which knowledge sources a channel (or a whole workspace) answers from.",
    no_args_is_help=False,
)


@scope_app.callback(invoke_without_command=True)
def scope_command(ctx: typer.Context, json_output: JsonFlag = False) -> None:
    """List the scopes: channels as pseudonyms, sources by name. Unscoped channels search
    everything; a channel without a scope of its own follows its workspace's."""
    if ctx.invoked_subcommand is None:
        run(lambda s: show(s, json_output))


@scope_app.command("set")
def set_command(
    platform: Annotated[str, typer.Argument(help="slack, discord or local.")],
    channel: Annotated[str, typer.Argument(help=CHANNEL_HELP)],
    sources: Annotated[list[str], typer.Argument(help="Source names (buddy sources).")],
    workspace: Workspace = DEFAULT_WORKSPACE,
    json_output: JsonFlag = False,
) -> None:
    """Questions in the channel retrieve from these sources only (threads and follow-ups too)."""
    run(lambda s: change(s, platform, workspace, channel, sources, json_output))


@scope_app.command("clear")
def clear_command(
    platform: Annotated[str, typer.Argument(help="slack, discord or local.")],
    channel: Annotated[str, typer.Argument(help=CHANNEL_HELP)],
    workspace: Workspace = DEFAULT_WORKSPACE,
    json_output: JsonFlag = False,
) -> None:
    """Remove the channel's own scope (it then follows its workspace's, if any)."""
    run(lambda s: change(s, platform, workspace, channel, [], json_output))


def register(app: typer.Typer) -> None:
    app.add_typer(scope_app, name="scope")
