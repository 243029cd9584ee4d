"""The `buddy` command line: a stable surface (its commands, flags and JSON fields are a promise
to users and scripts; the README lists them).

One module per command group; `common` holds what they share (the `--json` flag, the one runner
and its error handler, the JSON output). Only this package and bootstrap read settings. `--json`
prints one JSON document on stdout; logs and progress go to stderr; errors exit non-zero with one
clear line. `bot.serve` and `bot.bench` never import this package (an import-linter contract).
"""

from __future__ import annotations

import signal
from typing import Any

import typer

from bot.cli import (
    audit,
    bench,
    conversation,
    database,
    events,
    knowledge,
    learning,
    models,
    privacy,
    scope,
    serve,
    snippets,
    sources,
    training,
)

app = typer.Typer(
    help="Buddy: a self-improving developer Q&A bot with an append-only event store.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# In this order: `buddy --help` lists the commands as registered.
for group in (database, events, bench, serve, privacy, knowledge, scope, conversation, snippets,
              learning, training, models, audit):  # fmt: skip
    group.register(app)
app.add_typer(sources.sources_app, name="sources")


def _exit_on_sigterm() -> None:
    # SIGTERM unwinds like Ctrl-C, so `finally` blocks stop what this process started.
    def handler(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def main() -> None:
    _exit_on_sigterm()
    app()
