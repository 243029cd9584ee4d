"""The conversation commands of the `buddy` CLI: ask, react, stats and chat (the local channel)."""

from __future__ import annotations

import getpass
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from bot.cli.common import JsonFlag, print_json, run
from bot.operations.stats import curated_examples, stats_json, stats_lines
from bot.settings import Settings

if TYPE_CHECKING:
    from bot.bootstrap import Services
    from bot.operations.stats_chart import StatsSeries


def _write_out(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


async def ask(
    settings: Settings, question: str, user: str, channel: str, thread: str | None, as_json: bool
) -> None:
    from adapters.platforms.local.channel import LocalChannel, answer_json, source_lines
    from bot.bootstrap import bootstrap
    from bot.operations.index import refresh_index
    from domain.conversation import Question
    from domain.privacy_service import Person

    local = LocalChannel(None if as_json else _write_out)
    async with bootstrap(settings) as services:
        await refresh_index(services)
        answerer = await services.answerer(local)
        root = await thread_root(services, thread)
        person = Person(local.platform, local.workspace, user)
        answer = await answerer(Question(person, channel, question, root))
    if as_json:
        print_json(answer_json(answer))
        return
    for line in source_lines(answer):
        typer.echo(line)
    typer.echo(f"({answer.model_version}, {answer.latency_ms} ms, id {answer.answer_id})", err=True)


async def thread_root(services: Services, thread: str | None) -> str | None:
    """The local channel names a thread by any answer in it; the thread's id is its first."""
    if thread is None:
        return None
    return await services.conversations.thread_root(thread) or thread


async def react(
    settings: Settings, answer_id: str, emoji: str, user: str, removed: bool, as_json: bool
) -> None:
    from adapters.platforms.local.channel import LocalChannel
    from bot.bootstrap import bootstrap
    from domain.errors import BuddyError
    from domain.feedback import NOT_AN_ANSWER, Reaction
    from domain.privacy_service import Person

    person = Person(LocalChannel.platform, LocalChannel.workspace, user)
    async with bootstrap(settings) as services:
        rate = await services.rater()
        outcome = await rate(Reaction(person, answer_id, emoji, removed=removed))
    if outcome.reason == NOT_AN_ANSWER:
        raise BuddyError(f"{answer_id} is not an answer of the bot")
    if as_json:
        document = {"answer_id": answer_id, "recorded": outcome.recorded, "reason": outcome.reason}
        print_json(document)
    elif outcome.recorded:
        typer.echo(f"{outcome.recorded.split('.')[-1]}: {outcome.reason} vote on {answer_id}")
    else:
        typer.echo(f"ignored: {outcome.reason}")


async def stats(settings: Settings, as_json: bool, chart: Path | None = None) -> None:
    from bot.bootstrap import bootstrap
    from bot.operations.stats_chart import stats_series
    from domain.curation import next_milestone

    async with bootstrap(settings) as services:
        figures = await services.conversations.stats()
        curated = await curated_examples(services)
        series = await stats_series(services) if chart is not None else None
    if chart is not None and series is not None:
        write_chart(chart, series)
    goal = next_milestone(curated, settings.milestone_counts)  # BUDDY_MILESTONES
    progress = {"curated_examples": curated, "next_milestone": goal}
    if as_json:
        print_json(stats_json(figures) | {"dataset": progress})
    else:
        typer.echo("\n".join(stats_lines(figures)))
        goal = progress["next_milestone"]
        typer.echo(f"dataset    {curated} curated examples" + (f", next training at {goal}"
                                                              if goal else ""))  # fmt: skip


def write_chart(path: Path, series: StatsSeries) -> None:
    from bot.operations.stats_chart import png_size, render_chart
    from domain.errors import BuddyError

    png = render_chart(series)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(png)
    except OSError as error:
        raise BuddyError(f"cannot write the stats chart to {path}: {error.strerror}") from None
    width, height = png_size(png)
    typer.echo(f"wrote the stats chart to {path} ({width}x{height} PNG)", err=True)


UserOption = Annotated[str, typer.Option("--user", help="Who you are (local channel).")]


def register(app: typer.Typer) -> None:
    @app.command("ask")
    def ask_command(
        question: Annotated[str, typer.Argument(help="Your question.")],
        user: UserOption = "",
        channel: Annotated[str, typer.Option(help="The local channel's name.")] = "general",
        thread: Annotated[
            str | None, typer.Option(help="Follow up in the thread of this answer id.")
        ] = None,
        json_output: JsonFlag = False,
    ) -> None:
        """Ask Buddy a question; the answer cites its sources."""
        asker = user or getpass.getuser()
        run(lambda s: ask(s, question, asker, channel, thread, json_output))

    @app.command("react")
    def react_command(
        answer_id: Annotated[str, typer.Argument(help="The answer's id (from ask or chat).")],
        emoji: Annotated[str, typer.Argument(help="👍 +1 ✅ rate up; 👎 -1 ❌ rate down.")],
        user: UserOption = "",
        remove: Annotated[bool, typer.Option("--remove", help="Take the reaction back.")] = False,
        json_output: JsonFlag = False,
    ) -> None:
        """React to an answer: rating emoji count as your vote (the latest one wins)."""
        rater = user or getpass.getuser()
        run(lambda s: react(s, answer_id, emoji, rater, remove, json_output))

    @app.command("stats")
    def stats_command(
        json_output: JsonFlag = False,
        chart: Annotated[
            Path | None,
            typer.Option(
                "--chart",
                metavar="FILE",
                dir_okay=False,
                help="Also draw the figures as a 1000x700 PNG to FILE (for chat).",
            ),
        ] = None,
    ) -> None:
        """Questions, answers, failures, ratings and feedback rate, per model version too."""
        run(lambda s: stats(s, json_output, chart))

    @app.command("chat")
    def chat_command(
        user: UserOption = "",
        channel: Annotated[str, typer.Option(help="The local channel's name.")] = "general",
    ) -> None:
        """An interactive local channel: ask, follow up, /react, /sources, /stats, /help."""
        from bot.cli.chat import chat

        asker = user or getpass.getuser()
        run(lambda s: chat(s, asker, channel))
