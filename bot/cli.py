"""The `buddy` command line: the stable surface described in DESIGN section 8.

Only this module and bootstrap read settings. `--json` prints one JSON document on stdout; logs
and progress go to stderr; errors exit non-zero with one clear line.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import Callable, Coroutine
from typing import Annotated, Any, TypeVar

import typer

from bot.settings import Settings, load_settings
from domain.errors import BuddyError

T = TypeVar("T")

app = typer.Typer(
    help="Buddy: a self-improving developer Q&A bot with an append-only event store.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Manage the database schema (alembic owns it).", no_args_is_help=True)
app.add_typer(db_app, name="db")

JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]


def _settings() -> Settings:
    from adapters.privacy.scrubber import PatternScrubber
    from bot.logs import configure_logging

    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format, PatternScrubber())
    return settings


def _run(work: Callable[[Settings], Coroutine[Any, Any, T]]) -> T:
    """One error handler for every command: a clear line on stderr and a non-zero exit."""
    try:
        settings = _settings()
        return asyncio.run(work(settings))
    except BuddyError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        raise typer.Exit(130) from None


def _print_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, ensure_ascii=False) + "\n")


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

    _run(work)


@db_app.command("downgrade")
def db_downgrade(
    revision: Annotated[str, typer.Argument(help="Target revision; 'base' empties the schema.")],
) -> None:
    """Downgrade the schema (destructive: dropped tables lose their rows)."""

    async def work(settings: Settings) -> None:
        from adapters.store import migrate
        from bot.bootstrap import bootstrap

        async with bootstrap(settings, upgrade=False) as services:
            await migrate.downgrade(services.db, revision)
            current = await migrate.current_revision(services.db)
            typer.echo(f"database at revision {current or 'base'}", err=True)

    _run(work)


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
            _print_json({"current": current, "head": head})
        else:
            typer.echo(f"current: {current or 'base'}  head: {head}")

    _run(work)


@app.command()
def events(
    event_type: Annotated[
        list[str] | None, typer.Option("--type", help="Only this event type (repeatable).")
    ] = None,
    after: Annotated[int, typer.Option(help="Only events after this global position.")] = 0,
    limit: Annotated[int | None, typer.Option(help="At most this many events.")] = None,
    json_output: JsonFlag = False,
) -> None:
    """Dump the stored events as the store holds them (no decryption)."""
    from bot.event_dump import dump_events

    _run(lambda settings: dump_events(settings, event_type or [], after, limit, json_output))


@app.command()
def bench(
    name: Annotated[
        str,
        typer.Argument(
            help="Which benchmark: store, retrieval, ingest, vectors, generation, training,"
            " answers, scrubber, chunking, or all."
        ),
    ] = "all",
    json_output: JsonFlag = False,
    events_count: Annotated[
        int, typer.Option("--events", help="Events per measurement (store).", min=100)
    ] = 2000,
    distribution: Annotated[
        str, typer.Option(help="Random vectors for `vectors`: clustered or uniform.")
    ] = "clustered",
    runs: Annotated[
        int, typer.Option(help="Timed runs per side (generation); medians are reported.", min=1)
    ] = 3,
    eval_set: Annotated[
        list[str] | None,
        typer.Option("--set", help="Eval set of data/eval (answers; repeatable; default all)."),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(help="answers: a GGUF file to answer with, or 'extractive' (no model)."),
    ] = None,
    split: Annotated[str, typer.Option(help="answers: the half to run: dev, test or all.")] = "all",
    limit: Annotated[
        int | None, typer.Option(help="answers: at most N questions per set and half.", min=1)
    ] = None,
    details: Annotated[
        bool, typer.Option("--details", help="answers: every question's answer in the JSON.")
    ] = False,
    baselines: Annotated[
        bool, typer.Option(help="answers: also run the raw-model baseline.")
    ] = True,
) -> None:
    """Run the benchmark suite; results are ratios measured in one run."""
    from bot.bench import run_benchmarks
    from bot.bench_answers import BenchOptions

    if split not in ("dev", "test", "all"):
        raise typer.BadParameter("--split must be dev, test or all")
    answers = BenchOptions(
        tuple(eval_set or ()), model, ("dev", "test") if split == "all" else (split,), limit,
        baselines, details,
    )  # fmt: skip
    _run(
        lambda settings: run_benchmarks(
            settings, name, events_count, json_output, distribution, runs, answers
        )
    )


@app.command()
def serve() -> None:
    """Run the platforms that have credentials, the HTTP server and the answer worker."""
    from bot.serve import serve as run_server

    _run(run_server)


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

    _run(work)


def _register_feature_commands() -> None:
    from bot import (
        conversation_commands,
        knowledge_commands,
        learning_commands,
        model_commands,
        privacy_commands,
        snippet_commands,
        training_commands,
    )

    privacy_commands.register(app, _run)
    knowledge_commands.register(app, _run)
    conversation_commands.register(app, _run)
    snippet_commands.register(app, _run)
    learning_commands.register(app, _run)
    training_commands.register(app, _run)
    model_commands.register(app, _run)


_register_feature_commands()


def _exit_on_sigterm() -> None:
    # SIGTERM unwinds like Ctrl-C, so `finally` blocks stop what this process started.
    def handler(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def main() -> None:
    _exit_on_sigterm()
    app()
