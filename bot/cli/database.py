"""`buddy db`: the database schema (alembic owns it)."""

from __future__ import annotations

from typing import Annotated

import typer

from bot.cli.common import JsonFlag, print_json, run
from bot.settings import Settings


def register(app: typer.Typer) -> None:
    db_app = typer.Typer(help="Manage the database schema (alembic owns it).", no_args_is_help=True)
    app.add_typer(db_app, name="db")

    @db_app.command("upgrade")
    def db_upgrade(
        revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
    ) -> None:
        """Upgrade the schema to the latest revision (also done on every start)."""

        async def work(settings: Settings) -> None:
            from adapters.store import migrate
            from bot.bootstrap import bootstrap

            async with bootstrap(settings, upgrade=False) as services:
                await migrate.upgrade(services.db, revision)
                current = await migrate.current_revision(services.db)
                typer.echo(f"database at revision {current} ({services.database_label})", err=True)

        run(work)

    @db_app.command("downgrade")
    def db_downgrade(
        revision: Annotated[
            str, typer.Argument(help="Target revision; 'base' empties the schema.")
        ],
    ) -> None:
        """Downgrade the schema (destructive: dropped tables lose their rows)."""

        async def work(settings: Settings) -> None:
            from adapters.store import migrate
            from bot.bootstrap import bootstrap

            async with bootstrap(settings, upgrade=False) as services:
                await migrate.downgrade(services.db, revision)
                current = await migrate.current_revision(services.db)
                typer.echo(f"database at revision {current or 'base'}", err=True)

        run(work)

    @db_app.command("current")
    def db_current(json_output: JsonFlag = False) -> None:
        """Show the schema revision the database is at, and the newest one this code knows."""

        async def work(settings: Settings) -> None:
            from adapters.store import migrate
            from bot.bootstrap import bootstrap

            async with bootstrap(settings, upgrade=False) as services:
                current = await migrate.current_revision(services.db)
            head = migrate.head_revision()
            if json_output:
                print_json({"current": current, "head": head})
            else:
                typer.echo(f"current: {current or 'base'}  head: {head}")

        run(work)
