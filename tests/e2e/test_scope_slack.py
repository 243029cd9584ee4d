"""Scoping a channel from Slack through `buddy serve` in process: the admin's `/buddy scope
SOURCE` scopes the channel it is issued in, someone else's is refused; then a question whose
answer lies only in another source is declined in that channel and answered in another one.

As in test_serve_in_process.py: a scripted model, an echo sandbox and Slack over its fake Web
API; the store, retrieval, grounding, the admin console and its operations are the real ones."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlencode

import aiohttp

from adapters.platforms.slack.service import SlackService
from bot.settings import Settings
from domain.admin import REFUSAL
from domain.answering import NOTHING_FOUND
from tests.adapter.fake_slack import TEAM, FakeSlack
from tests.adapter.slack.harness import ALICE, BOB, SECRET, event_body, mention, signed
from tests.e2e.test_scope_cli import QUESTION, REPLY, write_sources
from tests.e2e.test_serve_in_process import free_port, wait_until_listening
from tests.fakes import EchoSandbox, ScriptedModel


@asynccontextmanager
async def served(tmp_path: Path) -> AsyncIterator[tuple[str, FakeSlack]]:
    """`serve` over SQLite with two sources ingested (runbooks, office), ALICE as its admin."""
    from bot.cli.knowledge import ingest
    from bot.serve.server import serve

    runbooks, office = write_sources(tmp_path)
    port = free_port()
    configured = Settings(
        BUDDY_DATA_DIR=tmp_path / "data", DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/b.db",
        BUDDY_HOST="127.0.0.1", BUDDY_PORT=port, BUDDY_SCHEDULER=False,
        BUDDY_ADMINS=f"slack:{ALICE}",
    )  # type: ignore[call-arg]  # fmt: skip
    for path, name in ((runbooks, "runbooks"), (office, "office")):
        await ingest(configured, [path], "MIT", name, "headings", True)
    fake = await FakeSlack().start()
    slack = SlackService("xoxb-test", signing_secret=SECRET, app_token=None, api_url=fake.api_url)
    stop = asyncio.Event()
    server = asyncio.create_task(serve(
        configured, model=ScriptedModel(REPLY), sandbox=EchoSandbox(), platforms=[slack],
        stop=stop,
    ))  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        await wait_until_listening(base, server)
        yield f"{base}/slack/events", fake
    finally:
        stop.set()
        await asyncio.wait_for(server, 60)
        await fake.stop()


async def post(url: str, body: bytes, content_type: str) -> None:
    headers = {**signed(body), "Content-Type": content_type}
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=body, headers=headers) as done,
    ):
        assert done.status == 200, await done.text()


async def command(url: str, fake: FakeSlack, text: str, user: str, name: str) -> str:
    """`/buddy TEXT` in #C1; what Buddy said back to the one who issued it."""
    form = {"command": "/buddy", "text": text, "team_id": TEAM, "user_id": user,
            "channel_id": "C1", "trigger_id": f"trig-{name}",
            "response_url": fake.response_url(name)}  # fmt: skip
    await post(url, urlencode(form).encode(), "application/x-www-form-urlencoded")
    said = lambda: [r for r in fake.responses if r["name"] == name]  # noqa: E731
    await fake.wait_for(lambda: bool(said()), 60, f"the reply to {text!r}")
    [reply] = said()
    return str(reply["text"])


async def answer_in(url: str, fake: FakeSlack, channel: str, ts: str) -> str:
    """Ask QUESTION in `channel`; the text of Buddy's reply in its thread."""
    await post(url, event_body(mention(QUESTION, ts, channel=channel), f"Ev-{ts}"),
               "application/json")  # fmt: skip

    def replies() -> list[str]:
        return [m["text"] for m in fake.messages
                if m.get("bot_id") and m.get("thread_ts") == ts and m["text"] != "…"]  # fmt: skip

    await fake.wait_for(
        lambda: any(call.get("timestamp") == ts for call in fake.called("reactions.remove")),
        60, f"the answer in {channel}",
    )  # fmt: skip
    found = replies()
    assert found, json.dumps(fake.messages)
    return found[-1]


async def test_an_admin_scopes_a_channel_from_slack_and_it_keeps_to_its_sources(
    tmp_path: Path,
) -> None:
    async with served(tmp_path) as (url, fake):
        refused = await command(url, fake, "scope runbooks", BOB, "bob")
        assert refused == REFUSAL
        unknown = await command(url, fake, "scope handbook", ALICE, "unknown")
        assert "unknown source handbook: the sources are office, runbooks" in unknown
        done = await command(url, fake, "scope office", ALICE, "alice")
        assert "This channel answers only from office" in done
        shown = await command(url, fake, "scope", ALICE, "shown")
        assert "answers only from office" in shown

        declined = await answer_in(url, fake, "C1", "1700000100.000100")
        answered = await answer_in(url, fake, "C2", "1700000200.000100")
    assert declined.startswith(NOTHING_FOUND.split(",")[0])
    assert "make rollback ENV=production" in answered
