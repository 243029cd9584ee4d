"""What every command of the `buddy` CLI shares: the `--json` flag, the one runner (settings,
logging and the error handler) and the JSON output."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable, Coroutine
from typing import Annotated, Any, TypeVar

import typer

from bot.settings import Settings, load_settings
from domain.errors import BuddyError

T = TypeVar("T")

JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
Work = Callable[[Settings], Coroutine[Any, Any, T]]


def _settings() -> Settings:
    from adapters.privacy.scrubber import PatternScrubber
    from bot.logs import configure_logging

    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format, PatternScrubber())
    return settings


def run(work: Work[T]) -> T:
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


def print_json(document: Any) -> None:
    """The one JSON document a `--json` command prints on stdout."""
    sys.stdout.write(json.dumps(document, ensure_ascii=False) + "\n")
