"""`buddy serve` in process, with fakes where the real thing cannot run in a test: a scripted model
instead of llama.cpp, a sandbox that only echoes, and Slack over its fake Web API. Everything
else is what production wires: the composition root, the real store, retrieval, grounding, the
worker, the outbox and the Slack adapter over signed HTTP."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from adapters.platforms.slack.service import SlackService
from bot.settings import Settings
from tests.adapter.fake_slack import FakeSlack
from tests.adapter.slack.harness import SECRET, event_body, mention, signed
from tests.fakes import EchoSandbox, ScriptedModel

DOC = """# Rollback

Roll back production with `make rollback ENV=production`. The rollback keeps the database as it
is: to undo a migration, write a new forward migration and deploy it.
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class InProcess:
    base: str  # http://127.0.0.1:PORT
    slack: FakeSlack
    service: SlackService
    model: ScriptedModel
    database: Path  # the SQLite file


@asynccontextmanager
async def served_in_process(tmp_path: Path, **settings: str) -> AsyncIterator[InProcess]:
    """`serve` on a free port over SQLite with DOC ingested, a scripted model, an echo sandbox
    and Slack over its fake Web API; stopped (answers drained) on exit. `settings`: more
    settings by their variable names (BUDDY_ADMINS=...)."""
    from bot.cli.knowledge import ingest
    from bot.serve.server import serve

    (tmp_path / "kb").mkdir()
    (tmp_path / "kb" / "runbook.md").write_text(DOC)
    database = tmp_path / "buddy.db"
    port = free_port()
    configured = Settings(
        **settings,
        BUDDY_DATA_DIR=tmp_path / "data",
        DATABASE_URL=f"sqlite+aiosqlite:///{database}",
        BUDDY_HOST="127.0.0.1",
        BUDDY_PORT=port,
        BUDDY_SCHEDULER=False,
    )  # type: ignore[call-arg]
    await ingest(configured, [tmp_path / "kb"], "MIT", None, "headings", True)
    model = ScriptedModel(["Roll back production with ", "`make rollback ENV=production` [1]."])
    fake = await FakeSlack().start()
    slack = SlackService("xoxb-test", signing_secret=SECRET, app_token=None, api_url=fake.api_url)
    stop = asyncio.Event()
    server = asyncio.create_task(
        serve(configured, model=model, sandbox=EchoSandbox(), platforms=[slack], stop=stop)
    )
    try:
        base = f"http://127.0.0.1:{port}"
        await wait_until_listening(base, server)
        yield InProcess(base, fake, slack, model, database)
    finally:
        stop.set()
        await asyncio.wait_for(server, 60)
        await fake.stop()


async def test_serve_runs_in_process_with_a_fake_model_sandbox_and_platform(
    tmp_path: Path,
) -> None:
    async with served_in_process(tmp_path) as served:
        base, fake = served.base, served.slack
        body = event_body(mention("how do I roll back production?", "1700000000.000100"), "Ev1")
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                f"{base}/slack/events", data=body,
                headers={**signed(body), "Content-Type": "application/json"},
            ) as done,
        ):  # fmt: skip
            assert done.status == 200
        await fake.wait_for(lambda: bool(fake.called("reactions.remove")), 60, "the answer")
        [reply] = [m for m in fake.messages if m.get("bot_id")]
        assert reply["thread_ts"] == "1700000000.000100"
        assert "make rollback ENV=production" in reply["text"]
        assert served.model.requests  # the scripted model was asked, not llama.cpp
        async with aiohttp.ClientSession() as session, session.get(f"{base}/healthz") as health:
            assert (await health.json())["model_version"] == "scripted:1"


async def wait_until_listening(base: str, server: asyncio.Task[None]) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(600):
            assert not server.done(), server.exception()
            try:
                async with session.get(f"{base}/healthz") as health:
                    if health.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.1)
    raise AssertionError("serve never listened")
