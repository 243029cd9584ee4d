"""`buddy sources`: the knowledge sources, and registered ones kept current. `buddy sources
[--json]` lists them; `add PATH|GIT_URL|URL`, `sync [NAME]` and `remove NAME` manage them
(`buddy ingest PATH` stays the one-shot shortcut)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from bot.cli.common import JsonFlag, print_json, run
from bot.settings import Settings

sources_app = typer.Typer(
    help="Knowledge sources: list them, or add, sync and remove registered ones.",
    invoke_without_command=True, no_args_is_help=False,
)  # fmt: skip


async def list_command(settings: Settings, as_json: bool) -> None:
    from bot.bootstrap import bootstrap
    from bot.operations.sources import list_sources

    async with bootstrap(settings) as services:
        listed = await list_sources(services)
    if as_json:
        print_json({"sources": listed})
        return
    for source in listed:
        typer.echo(_line(source))
    if not listed:
        typer.echo("no sources yet: buddy sources add PATH|GIT_URL|URL, or buddy ingest PATH",
                   err=True)  # fmt: skip


def _line(source: dict[str, Any]) -> str:
    synced = (source.get("last_sync") or "never")[:19]
    revision = (source.get("revision") or "-")[:12]
    line = (f"{source['name']}  {source['kind']} {source['origin']}  license {source['license']}"
            f"  revision {revision}  synced {synced}  {source['documents']} documents, "
            f"{source['chunks']} chunks")  # fmt: skip
    if source.get("every_hours"):
        line += f"  every {source['every_hours']:g} h"
    if source.get("last_error"):
        line += f"\n  last sync failed ({source['failures']} in a row): {source['last_error']}"
    return line


@sources_app.callback()
def sources_main(ctx: typer.Context, json_output: JsonFlag = False) -> None:
    """List the sources (origin, license, revision, last sync, documents, chunks, last error)."""
    if ctx.invoked_subcommand is None:
        run(lambda s: list_command(s, json_output))


@sources_app.command("add")
def add_command(
    origin: Annotated[str, typer.Argument(help="A folder or file, a Git URL, or a docs URL.")],
    name: Annotated[str | None, typer.Option("--name", help="What the source is called.")] = None,
    license_id: Annotated[
        str | None, typer.Option("--license", help="SPDX id; default: the LICENSE file's.")
    ] = None,
    include: Annotated[
        list[str] | None, typer.Option("--include", help="Only paths matching this glob.")
    ] = None,
    exclude: Annotated[
        list[str] | None, typer.Option("--exclude", help="Leave out paths matching this glob.")
    ] = None,
    every: Annotated[
        float | None,
        typer.Option("--every", min=0.01, metavar="HOURS", help="Sync on this schedule."),
    ] = None,
    ref: Annotated[
        str | None, typer.Option("--ref", help="Git: the branch or tag to follow.")
    ] = None,
    json_output: JsonFlag = False,
) -> None:
    """Register a source (an event), then sync it once."""

    async def work(settings: Settings) -> None:
        from bot.bootstrap import bootstrap
        from bot.operations.sources import add_source, sync_sources

        async with bootstrap(settings) as services:
            added = await add_source(
                services, origin, name=name, license_id=license_id,
                include=tuple(include or ()), exclude=tuple(exclude or ()),
                every_hours=every, ref=ref,
            )  # fmt: skip
            [report] = await sync_sources(services, added["name"])
        _print_sync(json_output, [report.as_json()], added)

    run(work)


@sources_app.command("sync")
def sync_command(
    name: Annotated[str | None, typer.Argument(help="One source; default: every one.")] = None,
    json_output: JsonFlag = False,
) -> None:
    """Bring registered sources up to date: changed files re-read, deleted ones removed."""

    async def work(settings: Settings) -> None:
        from bot.bootstrap import bootstrap
        from bot.operations.sources import sync_sources

        async with bootstrap(settings) as services:
            reports = await sync_sources(services, name)
        _print_sync(json_output, [report.as_json() for report in reports])

    run(work)


@sources_app.command("remove")
def remove_command(
    name: Annotated[str, typer.Argument(help="The source to remove.")],
    json_output: JsonFlag = False,
) -> None:
    """Unregister a source and remove its documents from the index."""

    async def work(settings: Settings) -> None:
        from bot.bootstrap import bootstrap
        from bot.operations.sources import remove_source

        async with bootstrap(settings) as services:
            removed = await remove_source(services, name)
        if json_output:
            print_json({"name": name, "documents_removed": removed})
        else:
            typer.echo(f"removed {name}: {removed} documents out of the index")

    run(work)


def _print_sync(
    as_json: bool, reports: list[dict[str, Any]], added: dict[str, Any] | None = None
) -> None:
    if as_json:
        print_json({"synced": reports} | ({"added": added} if added else {}))
        return
    for report in reports:
        documents = report["documents"]
        skipped = ", ".join(f"{k} {v}" for k, v in sorted(report["skipped"].items())) or "none"
        typer.echo(
            f"synced {report['name']} at {report['revision'][:12]}: {documents['added']} added, "
            f"{documents['changed']} changed, {documents['unchanged']} unchanged, "
            f"{documents['removed']} removed; {report['chunks']} chunks; skipped: {skipped}; "
            f"{report['seconds']:.1f} s"
        )
