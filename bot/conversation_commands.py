"""The conversation commands of the `buddy` CLI: ask (chat, react and stats come next)."""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

import typer

from bot.settings import Settings

Runner = Callable[[Callable[[Settings], Coroutine[Any, Any, None]]], None]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]


async def ask(
    settings: Settings, question: str, user: str, channel: str, thread: str | None, as_json: bool
) -> None:
    from adapters.platforms.local.channel import LocalChannel, answer_json
    from bot.bootstrap import bootstrap
    from bot.knowledge_commands import refresh_index
    from domain.answering import Question
    from domain.privacy_service import Person

    local = LocalChannel()
    async with bootstrap(settings) as services:
        await refresh_index(services)
        answerer = await services.answerer(local)
        person = Person(local.platform, local.workspace, user)
        answer = await answerer(Question(person, channel, question, thread))
    if as_json:
        sys.stdout.write(json.dumps(answer_json(answer), ensure_ascii=False) + "\n")
        return
    typer.echo(answer.text)
    for source in answer.sources:
        lines = f"{source.lines[0]}-{source.lines[1]}"
        typer.echo(f"  [{source.reference}] {source.path}:{lines} ({source.license})")
    typer.echo(f"({answer.model_version}, {answer.latency_ms} ms, id {answer.answer_id})", err=True)


def register(app: typer.Typer, run: Runner) -> None:
    @app.command("ask")
    def ask_command(
        question: Annotated[str, typer.Argument(help="Your question.")],
        user: Annotated[str, typer.Option(help="Who asks (local channel).")] = "",
        channel: Annotated[str, typer.Option(help="The local channel's name.")] = "general",
        thread: Annotated[str | None, typer.Option(help="Continue this thread.")] = None,
        json_output: JsonFlag = False,
    ) -> None:
        """Ask Buddy a question; the answer cites its sources."""
        asker = user or getpass.getuser()
        run(lambda s: ask(s, question, asker, channel, thread, json_output))
