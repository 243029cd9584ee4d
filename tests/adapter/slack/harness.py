"""One Buddy process with Slack over HTTP, built from the real use cases over in-memory fakes:
a `World` (store, keys, message refs, outbox) outlives a `BuddyProcess` (SlackService, answerer,
worker, aiohttp server), so a test can crash one process and start another over the same data."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

from adapters.platforms.slack.service import SlackService
from adapters.privacy.pseudonyms import HmacPseudonymizer
from adapters.privacy.sealer import AesGcmSealer
from bot.serve.worker import AnswerWorker
from domain.admin import AdminConsole, AdminReplies, AdminRequest, Admins
from domain.answering import AnswerQuestion
from domain.conversation import Question
from domain.feedback import RateAnswer
from domain.inbound import InboundHandlers
from domain.language import PromptTemplate
from domain.privacy_service import PrivacyService
from domain.question_changes import ChangeQuestion
from domain.retrieval import SearchHit
from domain.snippets import RunSnippet
from tests.adapter.fake_slack import BOT_USER, TEAM, FakeSlack
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

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
HIT = SearchHit("c1", "kb/deploy.md", "Rollback", 30, 38, "Run make rollback.", "MIT", 0.9, 0.8)
TEMPLATE = PromptTemplate("t", "Cite.", "{context}\n{history}Question: {question}\nAnswer:")
ALICE = "U-alice"  # an admin (BUDDY_ADMINS) in this harness
BOB = "U-bob"


@dataclass
class World:
    """What survives a crash: the database (events, outbox, message refs) and the keys."""

    store: InMemoryEventStore = field(default_factory=InMemoryEventStore)
    keys: InMemoryKeyVault = field(default_factory=InMemoryKeyVault)
    refs: InMemoryMessageRefs = field(default_factory=InMemoryMessageRefs)

    def __post_init__(self) -> None:
        self.outbox = InMemoryOutbox(self.store)
        self.privacy = PrivacyService(
            self.store, NoScrub(), HmacPseudonymizer(b"p" * 32), AesGcmSealer(self.keys),
            self.keys, FixedClock(),
        )  # fmt: skip

    def types(self) -> list[str]:
        return [event.type for event in self.store.events]


class BuddyProcess:
    def __init__(
        self, world: World, slack: FakeSlack, model: ScriptedModel, *,
        edit_interval_s: float = 0.0, post_interval_s: float = 0.0, concurrency: int = 4,
        socket_mode: bool = False, connect_timeout_s: float = 5.0,
        bot_user_id: str | None = BOT_USER,
    ) -> None:  # fmt: skip
        self.world = world
        self.slack = slack
        self.service = SlackService(
            "xoxb-test-token", signing_secret=None if socket_mode else SECRET,
            app_token="xapp-test-token" if socket_mode else None, api_url=slack.api_url,
            bot_user_id=bot_user_id, post_interval_s=post_interval_s,
            edit_interval_s=edit_interval_s, connect_timeout_s=connect_timeout_s,
        )  # fmt: skip
        index = ScriptedIndex([HIT])
        self.answerer = AnswerQuestion(
            world.store, world.privacy, index, model, TEMPLATE,
            self.service.platform, log=InMemoryConversationLog(world.store),
            grounder=trusting_grounder(index),
        )  # fmt: skip
        self.worker = AnswerWorker(world.outbox, {"slack": self.answerer}, concurrency=concurrency)
        # Admin commands over scripted operations: what each does for real is tested through
        # `buddy serve` (tests/e2e/test_admin_commands.py).
        self.admin_operations = ScriptedAdminOperations()
        console = AdminConsole(world.store, world.privacy, Admins([f"slack:{ALICE}"]),
                               self.admin_operations)  # fmt: skip
        self.admin_released = asyncio.Event()  # clear it to hold admin commands at their work
        self.admin_released.set()

        async def admin(request: AdminRequest, replies: AdminReplies) -> str:
            await self.admin_released.wait()
            return await console(request, replies)

        self.service.bind(InboundHandlers(
            self._accept, RateAnswer(world.store, world.privacy),
            RunSnippet(EchoSandbox(), world.store, world.privacy), world.refs,
            change_question=ChangeQuestion(world.store, world.privacy), admin=admin,
        ))  # fmt: skip
        self._runner: web.AppRunner | None = None
        self._http: aiohttp.ClientSession | None = None
        self.url = ""

    async def _accept(self, question: Question) -> str:
        return await self.answerer.accept(question, "slack")

    async def start(self) -> BuddyProcess:
        app = web.Application()
        await self.service.start(app)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/slack/events"
        self._http = aiohttp.ClientSession()
        return self

    async def stop(self) -> None:
        await self.service.stop()
        if self._http is not None:
            await self._http.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def crash(self) -> None:
        """Gone without finishing anything: running answers are cancelled mid-way."""
        await self.worker.drain(timeout_s=0)
        await self.stop()

    async def deliver(
        self, body: bytes, headers: dict[str, str] | None = None, *, retry: int = 0,
        content_type: str = "application/json",
    ) -> tuple[int, str]:  # fmt: skip
        assert self._http is not None
        sent = {"Content-Type": content_type, **signed(body)} if headers is None else headers
        if retry:
            sent = {**sent, "X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
        async with self._http.post(self.url, data=body, headers=sent) as response:
            return response.status, await response.text()

    async def event(self, event: dict[str, Any], event_id: str, *, retry: int = 0) -> int:
        status, _ = await self.deliver(event_body(event, event_id), retry=retry)
        return status

    async def command(
        self, text: str, *, response: str = "r1", channel: str = "C1", user: str = ALICE
    ) -> str:
        form = {"command": "/buddy", "text": text, "team_id": TEAM, "user_id": user,
                "channel_id": channel, "trigger_id": f"trig-{response}",
                "response_url": self.slack.response_url(response)}  # fmt: skip
        body = urlencode(form).encode()
        status, text_ = await self.deliver(body, content_type="application/x-www-form-urlencoded")
        assert status == 200, text_
        return text_

    async def answer_pending(self) -> None:
        """Run the answer worker until no job is left to start, and let each finish."""
        while await self.worker.run_once():
            await self.worker.drain()


def signed(body: bytes, secret: str = SECRET, timestamp: int | None = None) -> dict[str, str]:
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    base = f"v0:{stamp}:".encode() + body
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": f"v0={digest}"}


def event_body(event: dict[str, Any], event_id: str) -> bytes:
    return json.dumps({
        "token": "legacy", "team_id": TEAM, "api_app_id": "A1", "type": "event_callback",
        "event_id": event_id, "event_time": int(time.time()), "event": event,
        "authorizations": [{"team_id": TEAM, "user_id": BOT_USER, "is_bot": True}],
    }).encode()  # fmt: skip


def mention(text: str, ts: str, *, channel: str = "C1", user: str = ALICE,
            thread_ts: str | None = None) -> dict[str, Any]:  # fmt: skip
    event = {"type": "app_mention", "user": user, "text": f"<@{BOT_USER}> {text}", "ts": ts,
             "channel": channel, "event_ts": ts}  # fmt: skip
    return {**event, "thread_ts": thread_ts} if thread_ts else event


def message(text: str, ts: str, *, channel: str = "C1", user: str = ALICE,
            thread_ts: str | None = None, channel_type: str = "channel",
            **extra: Any) -> dict[str, Any]:  # fmt: skip
    event = {"type": "message", "user": user, "text": text, "ts": ts, "channel": channel,
             "channel_type": channel_type, "event_ts": ts, **extra}  # fmt: skip
    return {**event, "thread_ts": thread_ts} if thread_ts else event


def reaction(name: str, channel: str, ts: str, *, user: str = "U-bob",
             removed: bool = False) -> dict[str, Any]:  # fmt: skip
    kind = "reaction_removed" if removed else "reaction_added"
    return {"type": kind, "user": user, "reaction": name, "event_ts": "1700009999.000100",
            "item": {"type": "message", "channel": channel, "ts": ts}}  # fmt: skip


def posted_texts(slack: FakeSlack) -> list[str]:
    """What the bot's messages say now (after their edits)."""
    return [m["text"] for m in slack.messages if m.get("bot_id")]
