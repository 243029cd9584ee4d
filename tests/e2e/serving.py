"""`buddy serve` as a subprocess for the end-to-end tests: started on a free port, its stderr read
as it comes (a full pipe would stall the server), signed Slack deliveries, stopped by SIGTERM."""

from __future__ import annotations

import asyncio
import json
import signal
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import aiohttp

from adapters.store.database import create_database
from adapters.store.event_store import SqlEventStore
from domain.events import RecordedEvent
from tests.adapter.fake_slack import TEAM, FakeSlack
from tests.adapter.slack.harness import ALICE, SECRET, event_body, signed
from tests.e2e.test_serve_cli import start_serving


@dataclass
class Served:
    base: str  # http://127.0.0.1:PORT
    logged: list[str] = field(default_factory=list)

    def log(self, tail: int = 5000) -> str:
        return "".join(self.logged)[-tail:]

    async def health(self) -> dict[str, Any]:
        async with aiohttp.ClientSession() as session, session.get(f"{self.base}/healthz") as got:
            document: dict[str, Any] = await got.json()
            return document

    async def wait_for_model(self, model_version: str, seconds: float = 60) -> None:
        async with asyncio.timeout(seconds):
            while True:
                if (await self.health())["model_version"] == model_version:
                    return
                await asyncio.sleep(0.2)


@asynccontextmanager
async def serving(env: dict[str, str]) -> AsyncIterator[Served]:
    """`buddy serve` on 127.0.0.1 and a free port; stopped by SIGTERM, which it must survive."""
    env = {**env, "BUDDY_PORT": "0", "BUDDY_HOST": "127.0.0.1"}
    process, base = await asyncio.to_thread(start_serving, env)
    served = Served(base)
    reader = threading.Thread(
        target=lambda: served.logged.extend(process.stderr or ()), daemon=True
    )
    reader.start()
    try:
        yield served
    except BaseException as error:
        error.add_note("buddy serve logged:\n" + served.log())
        raise
    finally:
        process.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(process.wait, 60)
        reader.join(5)
    assert code == 0, served.log()


def slack_env(fake: FakeSlack) -> dict[str, str]:
    return {"SLACK_BOT_TOKEN": "xoxb-test", "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": fake.api_url}  # fmt: skip


async def slack_event(
    session: aiohttp.ClientSession, base: str, event: dict[str, Any], event_id: str,
    retry: int = 0,
) -> int:  # fmt: skip
    """A signed Events API delivery (a redelivery with `retry`); the HTTP status."""
    body = event_body(event, event_id)
    headers = {**signed(body), "Content-Type": "application/json"}
    if retry:
        headers |= {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
    async with session.post(f"{base}/slack/events", data=body, headers=headers) as response:
        return response.status


async def slack_command(
    session: aiohttp.ClientSession, base: str, fake: FakeSlack, text: str, response: str = "r1",
    user: str = ALICE,
) -> str:  # fmt: skip
    """A signed `/buddy` slash command; the text of the immediate (ack) reply."""
    form = {"command": "/buddy", "text": text, "team_id": TEAM, "user_id": user,
            "channel_id": "C1", "trigger_id": f"trig-{response}",
            "response_url": fake.response_url(response)}  # fmt: skip
    body = urlencode(form).encode()
    headers = {**signed(body), "Content-Type": "application/x-www-form-urlencoded"}
    async with session.post(f"{base}/slack/events", data=body, headers=headers) as done:
        assert done.status == 200
        text_ = await done.text()
    return str(json.loads(text_)["text"]) if text_ else ""


async def stored_events(url: str) -> list[RecordedEvent]:
    """Everything the store holds (read after the server stopped, or alongside it)."""
    db = create_database(url)
    try:
        store, found = SqlEventStore(db), []
        while batch := await store.read_all(found[-1].position if found else 0, limit=1000):
            found.extend(batch)
        return found
    finally:
        await db.dispose()


async def wait_for_event(url: str, event_type: str, seconds: float = 60) -> RecordedEvent:
    """The first event of `event_type` once the store holds one (the server writes it)."""
    async with asyncio.timeout(seconds):
        while True:
            found = [e for e in await stored_events(url) if e.type == event_type]
            if found:
                return found[0]
            await asyncio.sleep(0.2)
