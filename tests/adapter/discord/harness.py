"""The real DiscordService against the fake Discord, wired to the real use cases over the fakes
of our own ports: questions are accepted into the in-memory store's outbox and answered by the
real AnswerWorker, which replies through the service's ChatPlatform."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from adapters.platforms.discord.client import DiscordTiming
from adapters.platforms.discord.service import DiscordService
from adapters.privacy.pseudonyms import HmacPseudonymizer
from adapters.privacy.sealer import AesGcmSealer
from bot.serve.worker import AnswerWorker
from domain.admin import AdminConsole, Admins
from domain.answering import AnswerQuestion
from domain.conversation import Question
from domain.events import AppendResult
from domain.feedback import RateAnswer, RatingOutcome, Reaction
from domain.inbound import InboundHandlers
from domain.language import PromptTemplate
from domain.privacy_service import PrivacyService
from domain.question_changes import ChangeQuestion
from domain.retrieval import SearchHit
from domain.snippets import RunSnippet, Snippet, SnippetReply
from tests.adapter.discord import payloads
from tests.adapter.fake_discord import TOKEN, FakeDiscord, running_fake_discord
from tests.fakes import (
    EchoSandbox,
    FixedClock,
    InMemoryConversationLog,
    InMemoryEventStore,
    InMemoryKeyVault,
    InMemoryMessageRefs,
    InMemoryOutbox,
    NoScrub,
    ScriptedAdminOperations,
    ScriptedIndex,
    ScriptedModel,
    trusting_grounder,
)

HIT = SearchHit("c1", "kb/deploy.md", "Rollback", 30, 38, "Run make rollback.", "MIT", 0.9, 0.8)
TEMPLATE = PromptTemplate("t", "Cite.", "{context}\n{history}Question: {question}\nAnswer:")
FAST = DiscordTiming(
    edit_interval_s=0.0, guild_ready_timeout_s=0.05, reidentify_delay_s=0.0,
    ready_timeout_s=5.0, drain_s=0.5,
)  # fmt: skip


class NotifyingStore(InMemoryEventStore):
    """The in-memory store, telling the fake Discord's `wait_for` when events are appended
    (a rating changes nothing on the wire)."""

    def __init__(self, on_append: Callable[[], None]) -> None:
        super().__init__()
        self._on_append = on_append

    async def append(self, *args: Any, **kwargs: Any) -> AppendResult:
        try:
            return await super().append(*args, **kwargs)
        finally:
            self._on_append()


class NotifyingOutbox(InMemoryOutbox):
    def __init__(self, store: InMemoryEventStore, on_sent: Callable[[], None]) -> None:
        super().__init__(store)
        self._on_sent = on_sent

    async def mark_sent(self, message_id: int) -> None:
        await super().mark_sent(message_id)
        self._on_sent()


def null_handlers() -> InboundHandlers:
    """Handlers for a service that never gets as far as an event."""

    async def accept(_question: Question) -> str:
        return "a1"

    async def rate(_reaction: Reaction) -> RatingOutcome:
        return RatingOutcome(None, "unused")

    async def run(_snippet: Snippet) -> SnippetReply:
        return SnippetReply("unused")

    return InboundHandlers(accept, rate, run, InMemoryMessageRefs())


@dataclass
class Bot:
    fake: FakeDiscord
    service: DiscordService
    store: InMemoryEventStore
    refs: InMemoryMessageRefs
    model: ScriptedModel
    sandbox: EchoSandbox
    worker: AnswerWorker
    outbox: InMemoryOutbox
    privacy: PrivacyService
    admin_operations: ScriptedAdminOperations

    def types(self) -> list[str]:
        return [e.type for e in self.store.events]


@asynccontextmanager
async def running_bot(pieces: list[str] | None = None) -> AsyncIterator[Bot]:
    async with running_fake_discord() as fake:
        store, keys = NotifyingStore(fake.notify), InMemoryKeyVault()
        privacy = PrivacyService(store, NoScrub(), HmacPseudonymizer(b"p" * 32),
                                 AesGcmSealer(keys), keys, FixedClock())  # fmt: skip
        model = ScriptedModel(pieces or ["Run ", "make ", "rollback", " [1]."], delay_s=0.01)
        service = DiscordService(TOKEN, api_url=fake.api_url, timing=FAST)
        index = ScriptedIndex([HIT])
        answerer = AnswerQuestion(
            store, privacy, index, model, TEMPLATE, service.platform,
            log=InMemoryConversationLog(store), grounder=trusting_grounder(index),
        )  # fmt: skip
        outbox = NotifyingOutbox(store, fake.notify)
        worker = AnswerWorker(outbox, {"discord": answerer}, poll_s=0.05)
        sandbox, refs = EchoSandbox(), InMemoryMessageRefs()

        async def accept(question: Question) -> str:
            answer_id = await answerer.accept(question, "discord")
            worker.wake()
            return answer_id

        # Admin commands over scripted operations (alice is the admin); what each does for real
        # is tested through `buddy serve` (tests/e2e/test_admin_commands.py).
        operations = ScriptedAdminOperations()
        console = AdminConsole(store, privacy, Admins([f"discord:{payloads.ALICE_ID}"]),
                               operations)  # fmt: skip
        service.bind(InboundHandlers(
            accept, RateAnswer(store, privacy), RunSnippet(sandbox, store, privacy), refs,
            change_question=ChangeQuestion(store, privacy), admin=console,
        ))  # fmt: skip
        await service.start(None)
        running = asyncio.create_task(worker.run())
        try:
            yield Bot(fake, service, store, refs, model, sandbox, worker, outbox, privacy,
                      operations)  # fmt: skip
        finally:
            await worker.drain(1.0)
            running.cancel()
            await service.stop()
