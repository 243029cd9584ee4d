"""`buddy events`: page through the store and print what it holds, streaming (`--json` writes
the one document piece by piece, so a large store is never held in memory)."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from bot.cli.common import JsonFlag, run
from bot.settings import Settings

if TYPE_CHECKING:
    from domain.events import RecordedEvent

PAGE = 1000


async def dump_events(
    settings: Settings, types: list[str], after: int, limit: int | None, as_json: bool
) -> None:
    from bot.bootstrap import bootstrap

    async with bootstrap(settings) as services:
        out = sys.stdout
        if as_json:
            out.write('{"events": [')
        printed = 0
        position = after
        while limit is None or printed < limit:
            page_size = PAGE if limit is None else min(PAGE, limit - printed)
            page = await services.store.read_all(position, limit=page_size, types=types or None)
            if not page:
                break
            for event in page:
                out.write(_json_item(event, printed) if as_json else _line(event))
                printed += 1
            position = page[-1].position
        if as_json:
            out.write("]}\n")
        elif printed == 0:
            print("no events", file=sys.stderr)


def _json_item(event: RecordedEvent, index: int) -> str:
    return ("," if index else "") + json.dumps(event.as_json(), ensure_ascii=False)


def _line(event: RecordedEvent) -> str:
    payload = json.dumps(event.payload, ensure_ascii=False, separators=(",", ":"))
    return (
        f"{event.position:>8}  {event.recorded_at:%Y-%m-%d %H:%M:%S}  "
        f"{event.stream_id}@{event.version}  {event.type} v{event.schema_version}  {payload}\n"
    )


def register(app: typer.Typer) -> None:
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
        run(lambda settings: dump_events(settings, event_type or [], after, limit, json_output))
