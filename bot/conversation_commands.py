"""The conversation commands of the `buddy` CLI: ask, react, stats and chat (the local channel)."""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Annotated, Any

import typer

from bot.settings import Settings

if TYPE_CHECKING:
    from adapters.store.conversations import ConversationStats
    from bot.bootstrap import Services

Runner = Callable[[Callable[[Settings], Coroutine[Any, Any, None]]], None]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]


def _write_out(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


async def ask(
    settings: Settings, question: str, user: str, channel: str, thread: str | None, as_json: bool
) -> None:
    from adapters.platforms.local.channel import LocalChannel, answer_json, source_lines
    from bot.bootstrap import bootstrap
    from bot.knowledge_commands import refresh_index
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
        sys.stdout.write(json.dumps(answer_json(answer), ensure_ascii=False) + "\n")
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
        sys.stdout.write(json.dumps(document) + "\n")
    elif outcome.recorded:
        typer.echo(f"{outcome.recorded.split('.')[-1]}: {outcome.reason} vote on {answer_id}")
    else:
        typer.echo(f"ignored: {outcome.reason}")


async def stats(settings: Settings, as_json: bool) -> None:
    from bot.bootstrap import bootstrap
    from domain.curation import next_milestone

    async with bootstrap(settings) as services:
        figures = await services.conversations.stats()
        curated = await curated_examples(services)
    goal = next_milestone(curated, settings.milestone_counts)  # BUDDY_MILESTONES
    progress = {"curated_examples": curated, "next_milestone": goal}
    if as_json:
        sys.stdout.write(json.dumps(stats_json(figures) | {"dataset": progress}) + "\n")
    else:
        typer.echo("\n".join(stats_lines(figures)))
        goal = progress["next_milestone"]
        typer.echo(f"dataset    {curated} curated examples" + (f", next training at {goal}"
                                                              if goal else ""))  # fmt: skip


async def curated_examples(services: Services) -> int:
    """The size of the last curated dataset (0 before the first `buddy curate`)."""
    last, after = None, 0
    while batch := await services.store.read_all(after, types=["training.DatasetCurated"]):
        last, after = batch[-1], batch[-1].position
    return int(last.payload["examples"]) if last else 0


def stats_json(figures: ConversationStats) -> dict[str, Any]:
    return {
        "questions": figures.questions,
        "follow_ups": figures.follow_ups,
        "answers": figures.answers,
        "failures": figures.failures,
        "ratings": {
            "positive": figures.positive,
            "negative": figures.negative,
            "by_askers": figures.asker_votes,
        },
        "feedback_rate": round(figures.feedback_rate, 4),
        "answer_modes": mode_shares(figures),
        "models": [vars(model) | model_rates(model) for model in figures.models],
    }


def mode_shares(figures: ConversationStats) -> dict[str, dict[str, float]]:
    """Answers by mode (generated, extractive, declined): count and share of all answers."""
    from domain.grounding.grounder import ANSWER_MODES

    total = sum(figures.modes.values())
    return {
        mode: {
            "count": figures.modes.get(mode, 0),
            "share": round(figures.modes.get(mode, 0) / total, 4) if total else 0.0,
        }
        for mode in ANSWER_MODES
    }


def model_rates(model: Any) -> dict[str, Any]:
    """The leaderboard's figures for one model version: the registry version it serves and the
    shares of its ratings that are positive and negative (0 before any rating)."""
    from domain.model_registry import registry_version_of

    rated = model.positive + model.negative
    return {
        "version": registry_version_of(model.model_version),
        "positive_rate": round(model.positive / rated, 4) if rated else 0.0,
        "negative_rate": round(model.negative / rated, 4) if rated else 0.0,
    }


def stats_lines(figures: ConversationStats) -> list[str]:
    lines = [
        f"questions  {figures.questions} ({figures.follow_ups} follow-ups)",
        f"answers    {figures.answers}",
        f"failures   {figures.failures}",
        f"ratings    +{figures.positive} / -{figures.negative} ({figures.asker_votes} by askers)",
        f"feedback   {figures.feedback_rate:.0%} of answers rated",
    ]
    shares = mode_shares(figures)
    if figures.modes:
        lines.append(
            "modes      "
            + ", ".join(f"{mode} {shares[mode]['share']:.0%}" for mode in shares)
            + " (generated by the model, quoted from the docs, declined)"
        )
    if figures.models:
        lines.append("models (leaderboard, best positive rate first)")
    board = sorted(figures.models, key=lambda m: (-model_rates(m)["positive_rate"], -m.answers))
    for model in board:
        rates = model_rates(model)
        lines.append(
            f"  {model.model_version}: {model.answers} answers, {model.failures} failures, "
            f"+{model.positive} / -{model.negative} "
            f"({rates['positive_rate']:.0%} positive, {rates['negative_rate']:.0%} negative)"
        )
    return lines


UserOption = Annotated[str, typer.Option("--user", help="Who you are (local channel).")]


def register(app: typer.Typer, run: Runner) -> None:
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
    def stats_command(json_output: JsonFlag = False) -> None:
        """Questions, answers, failures, ratings and feedback rate, per model version too."""
        run(lambda s: stats(s, json_output))

    @app.command("chat")
    def chat_command(
        user: UserOption = "",
        channel: Annotated[str, typer.Option(help="The local channel's name.")] = "general",
    ) -> None:
        """An interactive local channel: ask, follow up, /react, /sources, /stats, /help."""
        from bot.chat import chat

        asker = user or getpass.getuser()
        run(lambda s: chat(s, asker, channel))
