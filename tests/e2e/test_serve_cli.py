"""`buddy serve` as an operator runs it: says what it serves, answers /healthz, stops cleanly."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import urllib.request

import aiohttp
import pytest

from tests.adapter.discord import payloads
from tests.adapter.fake_discord import TOKEN as DISCORD_TOKEN
from tests.adapter.fake_discord import running_fake_discord
from tests.adapter.fake_slack import FakeSlack
from tests.adapter.slack.harness import SECRET, event_body, mention, signed
from tests.e2e.test_cli import BUDDY


def start_serving(env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen([BUDDY, "serve"], env=env, stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    lines = []
    for line in process.stderr:
        lines.append(line)
        if found := re.search(r"listening on http://[^:]+:(\d+)", line):
            return process, f"http://127.0.0.1:{found.group(1)}"
    raise AssertionError("serve never listened: " + "".join(lines))


def test_serve_without_credentials_runs_healthz_and_stops_on_sigterm(
    clean_env: dict[str, str], sqlite_url: str
) -> None:
    env = {**clean_env, "DATABASE_URL": sqlite_url, "BUDDY_PORT": "0", "BUDDY_HOST": "127.0.0.1"}
    process, base = start_serving(env)
    try:
        with urllib.request.urlopen(f"{base}/healthz", timeout=10) as response:
            health = json.loads(response.read())
        assert health == {"status": "ok", "platforms": [], "pending_replies": 0,
                          "model_version": "llamacpp:gemma-3-270m-q4_k_m"}  # fmt: skip
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    assert process.stderr is not None
    assert "stopping" in process.stderr.read()


@pytest.mark.slow
async def test_serve_answers_a_signed_slack_mention_through_the_fake_web_api(
    clean_env: dict[str, str], sqlite_url: str
) -> None:
    fake = await FakeSlack().start()
    env = {
        **clean_env, "DATABASE_URL": sqlite_url, "BUDDY_PORT": "0", "BUDDY_HOST": "127.0.0.1",
        "SLACK_BOT_TOKEN": "xoxb-test", "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": fake.api_url,
    }  # fmt: skip
    process, base = await asyncio.to_thread(start_serving, env)
    try:
        body = event_body(mention("how do I roll back?", "1700000000.000100"), "Ev1")
        headers = {**signed(body), "Content-Type": "application/json"}
        async with aiohttp.ClientSession() as session:
            async with session.post(f"{base}/slack/events", data=body, headers=headers) as done:
                assert done.status == 200
            forged = {**headers, "X-Slack-Signature": "v0=" + "0" * 64}
            async with session.post(f"{base}/slack/events", data=body, headers=forged) as bad:
                assert bad.status == 401
            async with session.get(f"{base}/healthz") as health:
                assert (await health.json())["platforms"] == ["slack"]
        await fake.wait_for(lambda: bool(fake.called("reactions.remove")), 120, "👀 removed")
        [post] = fake.called("chat.postMessage")
        assert post["channel"] == "C1"
        assert post["thread_ts"] == "1700000000.000100"
        assert [r["name"] for r in fake.called("reactions.add")] == ["eyes"]
        final = (fake.called("chat.update") or [post])[-1]
        assert "won't guess" in json.dumps(final)  # nothing ingested: it says so, no invention
    finally:
        process.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(process.wait, 60) == 0
        await fake.stop()


@pytest.mark.slow
async def test_a_serve_process_killed_after_the_ack_replies_exactly_once_after_restart(
    clean_env: dict[str, str], sqlite_url: str
) -> None:
    fake = await FakeSlack().start()
    fake.slow_down("chat.postMessage", 60)  # Slack takes the post; the process dies waiting
    env = {
        **clean_env, "DATABASE_URL": sqlite_url, "BUDDY_PORT": "0", "BUDDY_HOST": "127.0.0.1",
        "SLACK_BOT_TOKEN": "xoxb-test", "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": fake.api_url,
    }  # fmt: skip
    question_ts = fake.add_message("C1", "<@UBOT> how do I roll back?", user="U-alice",
                                   ts="1700000000.000100")  # fmt: skip
    first, base = await asyncio.to_thread(start_serving, env)
    try:
        body = event_body(mention("how do I roll back?", question_ts), "Ev1")
        headers = {**signed(body), "Content-Type": "application/json"}
        async with (
            aiohttp.ClientSession() as session,
            session.post(f"{base}/slack/events", data=body, headers=headers) as done,
        ):
            assert done.status == 200
        await fake.wait_for(lambda: bool(fake.called("chat.postMessage")), 120, "the post")
    finally:
        first.kill()  # SIGKILL: no shutdown, no mark_sent, no remembered message
        await asyncio.to_thread(first.wait, 30)
    fake.slow_down("chat.postMessage", 0)
    second, _ = await asyncio.to_thread(start_serving, env)
    try:
        await fake.wait_for(lambda: bool(fake.called("chat.update")), 120, "the resumed reply")
        assert len(fake.called("chat.postMessage")) == 1  # found again, edited, not re-posted
        [message] = [m for m in fake.messages if m.get("bot_id")]
        assert "won't guess" in message["text"]
    finally:
        second.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(second.wait, 60) == 0
        await fake.stop()


@pytest.mark.slow
async def test_serve_answers_a_discord_mention_through_the_fake_gateway(
    clean_env: dict[str, str], sqlite_url: str
) -> None:
    async with running_fake_discord() as fake:
        env = {
            **clean_env, "DATABASE_URL": sqlite_url, "BUDDY_PORT": "0",
            "BUDDY_HOST": "127.0.0.1", "DISCORD_TOKEN": DISCORD_TOKEN,
            "DISCORD_API_URL": fake.api_url,
        }  # fmt: skip
        process, base = await asyncio.to_thread(start_serving, env)
        try:
            question = payloads.message(
                payloads.CHANNEL_ID, payloads.ALICE, f"<@{payloads.BOT_ID}> how do I roll back?"
            )
            await fake.post(question)
            answers = await fake.wait_for(
                lambda: [m for m in fake.bot_messages(payloads.CHANNEL_ID)
                         if "won't guess" in m["content"]],
                seconds=120,
            )  # fmt: skip
            assert answers
            [post] = [r for r in fake.requests
                      if r.method == "POST" and r.path.endswith("/messages")]  # fmt: skip
            assert post.body["message_reference"]["message_id"] == int(question["id"])
            assert post.body["allowed_mentions"] == {"parse": []}
            async with aiohttp.ClientSession() as session, session.get(f"{base}/healthz") as got:
                assert (await got.json())["platforms"] == ["discord"]
        finally:
            process.send_signal(signal.SIGTERM)
            assert await asyncio.to_thread(process.wait, 60) == 0
