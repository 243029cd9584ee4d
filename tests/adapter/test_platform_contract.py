"""One contract for every chat platform, run against the Slack harness (HTTP events into the real
SlackService, a fake Slack), the Discord harness (the real discord.py client, a fake Discord) and
the local channel (the terminal): a question gets exactly one answer, in its thread, however
often it is delivered; 👍 on the answer is a rating; help is the shared text; a snippet that
cannot run says so in the shared words. Each platform renders the shared texts in its markup."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Protocol

import pytest

from adapters.platforms.common import HELP, snippet_failed
from adapters.platforms.local.channel import LocalChannel
from adapters.platforms.slack.mrkdwn import to_mrkdwn
from adapters.privacy.pseudonyms import HmacPseudonymizer
from adapters.privacy.sealer import AesGcmSealer
from domain.answering import AnswerQuestion
from domain.conversation import Question
from domain.feedback import RateAnswer, Reaction
from domain.privacy_service import Person, PrivacyService
from domain.sandbox import LanguageUnavailable
from tests.adapter.discord import payloads as p
from tests.adapter.discord.harness import HIT, TEMPLATE, Bot, running_bot
from tests.adapter.fake_slack import FakeSlack
from tests.adapter.slack.harness import BuddyProcess, World, mention, reaction
from tests.fakes import (
    FixedClock,
    InMemoryConversationLog,
    InMemoryEventStore,
    InMemoryKeyVault,
    NoScrub,
    ScriptedIndex,
    ScriptedModel,
    trusting_grounder,
)

QUESTION = "how do I roll back?"
FAILING_SNIPPET = "run this\n```cobol\nDISPLAY 'HI'.\n```"  # the fake sandbox has no COBOL
CANNOT_RUN = snippet_failed(LanguageUnavailable("cobol is not installed here")).text


class Platform(Protocol):
    """What the contract needs of a platform: deliver, look, and render as the platform does."""

    store: InMemoryEventStore

    def render(self, markdown: str) -> str: ...

    async def ask(self, text: str, *, deliveries: int) -> str:
        """The question delivered `deliveries` times and answered; the thread it is in."""

    def answer_threads(self) -> list[str | None]:
        """The thread of each answer shown."""

    async def thumbs_up(self) -> None:
        """Someone else reacts 👍 on the answer, and the reaction is taken."""

    async def help(self) -> str | None:
        """The help the platform shows; None where it has none of its own."""

    async def run(self, text: str) -> str | None:
        """A snippet asked for as a message; the reply shown (None: not a way to run one)."""


# -- Slack -------------------------------------------------------------------------------------

QUESTION_TS = "1690000000.000100"


class SlackPlatform:
    def __init__(self, slack: FakeSlack, world: World, buddy: BuddyProcess) -> None:
        self.slack, self.world, self.buddy = slack, world, buddy
        self.store = world.store

    def render(self, markdown: str) -> str:
        return to_mrkdwn(markdown)

    async def ask(self, text: str, *, deliveries: int) -> str:
        for attempt in range(deliveries):  # a redelivery: the same event id, a retry header
            assert await self.buddy.event(mention(text, QUESTION_TS), "Ev1", retry=attempt) == 200
        await self.buddy.answer_pending()
        return QUESTION_TS

    def answer_threads(self) -> list[str | None]:
        return [post.get("thread_ts") for post in self.slack.called("chat.postMessage")]

    async def thumbs_up(self) -> None:
        [answer] = self.world.refs.posted_messages
        assert await self.buddy.event(reaction("+1", "C1", answer.message_id), "Ev-up") == 200

    async def help(self) -> str:
        body = await self.buddy.command("help")
        return str(json.loads(body)["text"])

    async def run(self, text: str) -> str:
        assert await self.buddy.event(mention(text, "1690000001.000100"), "Ev-run") == 200
        await self.slack.wait_for(lambda: bool(self.slack.called("chat.postMessage")),
                                  what="the snippet's reply")  # fmt: skip
        [post] = self.slack.called("chat.postMessage")
        return str(post["text"])


@asynccontextmanager
async def slack_platform() -> AsyncIterator[SlackPlatform]:
    slack, world = await FakeSlack().start(), World()
    buddy = await BuddyProcess(world, slack, ScriptedModel(["Run make rollback [1]."])).start()
    try:
        yield SlackPlatform(slack, world, buddy)
    finally:
        await buddy.stop()
        await slack.stop()


# -- Discord -----------------------------------------------------------------------------------


def _final_answers(bot: Bot) -> list[dict[str, Any]]:
    return [m for m in bot.fake.bot_messages(p.CHANNEL_ID) if "**Sources**" in m["content"]]


class DiscordPlatform:
    def __init__(self, bot: Bot) -> None:
        self.bot = bot
        self.store = bot.store

    def render(self, markdown: str) -> str:
        return markdown  # Discord's markup is Markdown

    async def ask(self, text: str, *, deliveries: int) -> str:
        question = p.message(p.CHANNEL_ID, p.ALICE, f"<@{p.BOT_ID}> {text}")
        await self.bot.fake.post(question)
        for _ in range(deliveries - 1):  # a replayed MESSAGE_CREATE (a resumed session)
            await self.bot.fake.gateway.dispatch("MESSAGE_CREATE", question)
        await self.bot.fake.wait_for(lambda: _final_answers(self.bot))
        # The 👍/👎 seeds go on last: the reply is complete.
        await self.bot.fake.wait_for(lambda: len(self.bot.fake.calls("PUT", "/channels/")) >= 2)
        await self.bot.fake.wait_for(self._outbox_empty_soon)
        return str(question["id"])

    def _outbox_empty_soon(self) -> bool:
        return all(i in self.bot.outbox.sent for i in range(1, len(self.store.outbox) + 1))

    def answer_threads(self) -> list[str | None]:
        return [m["message_reference"]["message_id"] for m in _final_answers(self.bot)]

    async def thumbs_up(self) -> None:
        [answer] = _final_answers(self.bot)
        await self.bot.fake.gateway.dispatch(
            "MESSAGE_REACTION_ADD", p.reaction(answer["id"], p.BOB_ID, "👍")
        )
        await self.bot.fake.wait_for(lambda: "feedback.RatingGiven" in _types(self.store))

    async def help(self) -> str:
        interaction = p.slash_command("help")
        await self.bot.fake.interact(interaction)
        follow_up = f"/webhooks/{p.APP_ID}/{interaction['token']}"
        [reply] = await self.bot.fake.wait_for(lambda: self.bot.fake.calls("POST", follow_up))
        return str(reply.body["content"])

    async def run(self, text: str) -> str:
        await self.bot.fake.post(p.message(p.CHANNEL_ID, p.ALICE, f"<@{p.BOT_ID}> {text}"))
        [reply] = await self.bot.fake.wait_for(lambda: self.bot.fake.bot_messages(p.CHANNEL_ID))
        return str(reply["content"])


@asynccontextmanager
async def discord_platform() -> AsyncIterator[DiscordPlatform]:
    async with running_bot(["Run make rollback [1]."]) as bot:
        yield DiscordPlatform(bot)


# -- the local channel -------------------------------------------------------------------------


class LocalPlatform:
    """The terminal as `buddy ask` and `buddy react` use it: the question answered at once
    through the LocalChannel, ratings by answer id."""

    def __init__(self) -> None:
        self.store, keys = InMemoryEventStore(), InMemoryKeyVault()
        self.privacy = PrivacyService(self.store, NoScrub(), HmacPseudonymizer(b"p" * 32),
                                      AesGcmSealer(keys), keys, FixedClock())  # fmt: skip
        self.channel = LocalChannel()
        index = ScriptedIndex([HIT])
        self.answerer = AnswerQuestion(
            self.store, self.privacy, index, ScriptedModel(["Run make rollback [1]."]), TEMPLATE,
            self.channel, log=InMemoryConversationLog(self.store),
            grounder=trusting_grounder(index),
        )  # fmt: skip
        self.answer_id = ""

    def render(self, markdown: str) -> str:
        return markdown

    def _person(self, user: str) -> Person:
        return Person(LocalChannel.platform, LocalChannel.workspace, user)

    async def ask(self, text: str, *, deliveries: int) -> str:
        question = Question(self._person("alice"), "cli", text, "t1", "local:1")
        for _ in range(deliveries):
            self.answer_id = (await self.answerer(question)).answer_id
        return "t1"

    def answer_threads(self) -> list[str | None]:
        # A terminal cannot point at what it printed before: a repeated question prints the
        # stored answer again (AnswerQuestion.__call__). One answer, however often shown.
        return list({answer.answer_id: thread for _, thread, answer in self.channel.sent}.values())

    async def thumbs_up(self) -> None:
        await RateAnswer(self.store, self.privacy)(
            Reaction(self._person("bob"), self.answer_id, "👍")
        )

    async def help(self) -> None:
        return None  # the terminal's help is the CLI's --help, not a chat message

    async def run(self, text: str) -> None:
        return None  # `buddy run` runs a file, not a message


@asynccontextmanager
async def local_platform() -> AsyncIterator[LocalPlatform]:
    yield LocalPlatform()


# -- the contract ------------------------------------------------------------------------------

PLATFORMS: dict[str, Callable[[], AbstractAsyncContextManager[Platform]]] = {
    "slack": slack_platform,
    "discord": discord_platform,
    "local": local_platform,
}


@pytest.fixture(params=sorted(PLATFORMS))
async def platform(request: pytest.FixtureRequest) -> AsyncIterator[Platform]:
    async with PLATFORMS[request.param]() as started:
        yield started


# The terminal has no help message (the CLI's --help) and runs files, not messages (`buddy run`).
@pytest.fixture(params=["discord", "slack"])
async def chat_platform(request: pytest.FixtureRequest) -> AsyncIterator[Platform]:
    async with PLATFORMS[request.param]() as started:
        yield started


def _types(store: InMemoryEventStore) -> list[str]:
    return [event.type for event in store.events]


async def test_a_question_gets_exactly_one_answer_in_its_thread(platform: Platform) -> None:
    thread = await platform.ask(QUESTION, deliveries=1)
    assert platform.answer_threads() == [thread]
    assert _types(platform.store) == ["conversation.QuestionAsked", "conversation.AnswerGiven"]


async def test_a_duplicate_delivery_is_answered_once(platform: Platform) -> None:
    thread = await platform.ask(QUESTION, deliveries=3)
    assert platform.answer_threads() == [thread]
    assert _types(platform.store) == ["conversation.QuestionAsked", "conversation.AnswerGiven"]


async def test_a_thumbs_up_on_the_answer_is_a_rating(platform: Platform) -> None:
    await platform.ask(QUESTION, deliveries=1)
    await platform.thumbs_up()
    [rating] = [e for e in platform.store.events if e.type.startswith("feedback.")]
    assert rating.type == "feedback.RatingGiven"
    assert (rating.payload["value"], rating.payload["by_asker"]) == (1, False)


async def test_help_is_the_shared_text(chat_platform: Platform) -> None:
    shown = await chat_platform.help()
    assert shown == chat_platform.render(HELP)


async def test_a_snippet_that_cannot_run_gets_the_shared_message(chat_platform: Platform) -> None:
    shown = await chat_platform.run(FAILING_SNIPPET)
    assert shown == chat_platform.render(CANNOT_RUN)
