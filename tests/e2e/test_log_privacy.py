"""Logs and events carry no raw platform ids, no message text and no OS login (issue 14).

`buddy serve` runs at DEBUG, once with text logs and once with JSON logs, with Slack (signed HTTP
events, the fake Web API) and Discord (the fake gateway) both connected. Every kind of input
comes in with planted ids (team, channel, user, message ts, event ids, trigger_id, response_url,
Discord snowflakes, an interaction token) and canary text (an e-mail address, a token, a plain
marker word): mentions, follow-ups, reactions (one that fails), edits, deletions, DMs and
`/buddy ask|run`. None of it may reach the process's output, nor `buddy events`. Then `buddy
promote` and `rollback` run as a canary OS login, which must not be stored either."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import threading
import time
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest

from tests.adapter.discord import payloads
from tests.adapter.fake_discord import TOKEN as DISCORD_TOKEN
from tests.adapter.fake_discord import FakeDiscord, running_fake_discord
from tests.adapter.fake_slack import BOT_USER, FakeSlack
from tests.adapter.slack.harness import SECRET, signed
from tests.e2e.test_cli import BUDDY, buddy
from tests.e2e.test_models_cli import seed

# Slack: ids as Slack shapes them, each with CANARY in it.
TEAM = "T0CANARYTEAM"
CHANNEL = "C0CANARYCHAN"
ASKER = "U0CANARYUSER"
RATER = "U0CANARYRATER"
QUESTION_TS = "1711111111.123456"
FOLLOW_UP_TS = "1711111112.234567"
TRIGGER = "4242.1717.c0canarytrigger"
EVENT_ID = "Ev0CANARYEV{}"
SLACK_TOKEN = "xoxb-1111-2222-canarybottoken"

# Discord: snowflakes of its own for people and messages; the guild and channel are the fake
# gateway's (planted all the same: they must not be logged either).
D_ASKER_ID = "990000000000000007"
D_RATER_ID = "990000000000000008"
D_QUESTION = "990000000000000101"
D_FOLLOW_UP = "990000000000000102"
D_DM = "990000000000000103"
D_UNKNOWN = "990000000000000109"  # a message nobody can fetch: the ▶️ on it fails
D_INTERACTIONS = ("990000000000000201", "990000000000000202")
D_TOKENS = ("canarytoken-aW50ZXJhY3Rpb246MQ", "canarytoken-aW50ZXJhY3Rpb246Mg")
D_ASKER = payloads.user(D_ASKER_ID, "zz-canary-name")
D_RATER = payloads.user(D_RATER_ID, "zz-canary-rater")

GITHUB_TOKEN = "ghp_Canary" + "x7Q" * 10
TEXT = f"mail canary.person@example.org, key {GITHUB_TOKEN}, quokkacanary"

PLANTED = [
    TEAM, CHANNEL, ASKER, RATER, QUESTION_TS, FOLLOW_UP_TS, TRIGGER, "EV0CANARYEV", "r0canary",
    SLACK_TOKEN, D_ASKER_ID, D_RATER_ID, D_QUESTION, D_FOLLOW_UP, D_DM, D_UNKNOWN,
    *D_INTERACTIONS, *D_TOKENS, payloads.GUILD_ID, payloads.CHANNEL_ID, payloads.DM_CHANNEL_ID,
    DISCORD_TOKEN, "canary.person@example.org", GITHUB_TOKEN, "quokkacanary", "zz-canary",
]  # fmt: skip


def found_in(text: str) -> list[str]:
    lowered = text.lower()
    found = [value for value in PLANTED if value.lower() in lowered]
    return found or (["canary"] if "canary" in lowered else [])


def own_lines(logs: str, log_format: str) -> list[str]:
    """The records Buddy's own loggers wrote (messages and tracebacks)."""
    own = ("bot.", "domain.", "adapters.", "scheduler.", "training.", "migrations.")
    if log_format == "json":
        records = [json.loads(line) for line in logs.splitlines() if line.startswith("{")]
        return [f"{r['msg']} {r.get('exc', '')}" for r in records if r["logger"].startswith(own)]
    found, keep = [], False
    for line in logs.splitlines():
        header = re.match(r"\S+ \S+ [A-Z]+ (\S+): ", line)
        if header:
            keep = header.group(1).startswith(own)
        if keep:
            found.append(line)
    return found


class Serving:
    """`buddy serve` with its stdout and stderr drained as it runs: at DEBUG a full pipe would
    block the process."""

    def __init__(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [BUDDY, "serve"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.lines: list[str] = []
        self._listening = threading.Event()
        self.base = ""
        self._readers = [
            threading.Thread(target=self._drain, args=(stream,), daemon=True)
            for stream in (self.process.stdout, self.process.stderr)
        ]
        for reader in self._readers:
            reader.start()

    def _drain(self, stream: Any) -> None:
        for line in stream:
            self.lines.append(line)
            if found := re.search(r"listening on http://[^:]+:(\d+)", line):
                self.base = f"http://127.0.0.1:{found.group(1)}"
                self._listening.set()

    def wait_listening(self, timeout_s: float = 180) -> str:
        deadline = time.monotonic() + timeout_s
        while not self._listening.wait(0.2):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("serve never listened: " + "".join(self.lines))
        return self.base

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(90)
        for reader in self._readers:
            reader.join(10)
        return code

    @property
    def output(self) -> str:
        return "".join(self.lines)


# -- Slack ---------------------------------------------------------------------------------------


def slack_event(event: dict[str, Any], number: int) -> bytes:
    return json.dumps({
        "token": "legacy", "team_id": TEAM, "api_app_id": "A1", "type": "event_callback",
        "event_id": EVENT_ID.format(number), "event_time": int(time.time()), "event": event,
        "authorizations": [{"team_id": TEAM, "user_id": BOT_USER, "is_bot": True}],
    }).encode()  # fmt: skip


def slack_command(text: str, response: str) -> bytes:
    return urlencode({
        "command": "/buddy", "text": text, "team_id": TEAM, "team_domain": "canaryteam",
        "user_id": ASKER, "user_name": "zz-canary-name", "channel_id": CHANNEL,
        "channel_name": "canary-channel", "trigger_id": TRIGGER, "response_url": response,
    }).encode()  # fmt: skip


async def post_slack(session: aiohttp.ClientSession, base: str, body: bytes, form: bool) -> None:
    kind = "application/x-www-form-urlencoded" if form else "application/json"
    headers = {**signed(body), "Content-Type": kind}
    async with session.post(f"{base}/slack/events", data=body, headers=headers) as response:
        assert response.status == 200, await response.text()


async def drive_slack(fake: FakeSlack, base: str) -> None:
    def posts() -> int:
        return len(fake.called("chat.postMessage"))

    def message(ts: str, text: str, **extra: Any) -> dict[str, Any]:
        return {"type": "message", "user": ASKER, "channel": CHANNEL, "channel_type": "channel",
                "text": text, "ts": ts, "event_ts": ts, **extra}  # fmt: skip

    fake.throttle("reactions.add", times=8)  # the 👀 on the questions fails: a logged warning
    async with aiohttp.ClientSession() as session:

        async def event(number: int, event: dict[str, Any]) -> None:
            await post_slack(session, base, slack_event(event, number), form=False)

        async def command(text: str, response: str) -> None:
            body = slack_command(text, fake.response_url(response))
            await post_slack(session, base, body, form=True)

        asked = {"type": "app_mention", "user": ASKER, "channel": CHANNEL, "ts": QUESTION_TS,
                 "event_ts": QUESTION_TS,
                 "text": f"<@{BOT_USER}> how do I roll back? {TEXT}"}  # fmt: skip
        await event(1, asked)
        await fake.wait_for(lambda: posts() >= 1 and bool(fake.called("reactions.remove")),
                            120, "the answer")  # fmt: skip
        [answer] = [m for m in fake.messages if m.get("bot_id")]
        item = {"type": "message", "channel": CHANNEL, "ts": answer["ts"]}
        await event(2, {"type": "reaction_added", "user": RATER, "reaction": "+1", "item": item,
                        "event_ts": "1711111113.000001"})  # fmt: skip
        await event(3, message(FOLLOW_UP_TS, f"and then? {TEXT}", thread_ts=QUESTION_TS))
        await fake.wait_for(lambda: posts() >= 2, 120, "the follow-up's answer")
        edited = {"user": ASKER, "text": f"how do I undo? {TEXT}", "ts": QUESTION_TS}
        before = {**edited, "text": "how do I roll back?"}
        await event(4, message("1711111114.000001", "", subtype="message_changed",
                               message=edited, previous_message=before))  # fmt: skip
        await command(f"ask where are the logs? {TEXT}", "r0canaryask")
        await fake.wait_for(lambda: posts() >= 3, 120, "the /buddy ask answer")
        await command(f"run print('{TEXT}')", "r0canaryrun")
        await fake.wait_for(lambda: any(r["name"] == "r0canaryrun" for r in fake.responses),
                            120, "the /buddy run result")  # fmt: skip
        await command("quokkacanary", "r0canaryhelp")  # unknown: the ack echoes it
        gone = {"user": ASKER, "text": "and then?", "ts": FOLLOW_UP_TS, "thread_ts": QUESTION_TS}
        await event(5, message("1711111115.000001", "", subtype="message_deleted",
                               deleted_ts=FOLLOW_UP_TS, previous_message=gone))  # fmt: skip


# -- Discord -------------------------------------------------------------------------------------


def reaction(message_id: str, emoji: str) -> dict[str, Any]:
    return {"user_id": D_RATER_ID, "channel_id": payloads.CHANNEL_ID, "message_id": message_id,
            "emoji": {"id": None, "name": emoji}, "type": 0, "burst": False,
            "guild_id": payloads.GUILD_ID, "member": payloads.member(D_RATER)}  # fmt: skip


def interaction(number: int, subcommand: str, option: dict[str, Any]) -> dict[str, Any]:
    data = payloads.slash_command(subcommand, [option], who=D_ASKER)
    return {**data, "id": D_INTERACTIONS[number], "token": D_TOKENS[number]}


async def drive_discord(fake: FakeDiscord) -> None:
    def answers() -> int:  # each finished answer is seeded with two rating reactions
        return len(fake.calls("PUT", "/channels/")) // 2

    channel, guild = payloads.CHANNEL_ID, payloads.GUILD_ID
    await fake.post(payloads.message(channel, D_ASKER, f"<@{payloads.BOT_ID}> roll back? {TEXT}",
                                     message_id=D_QUESTION))  # fmt: skip
    await fake.wait_for(lambda: answers() >= 1, 120)
    [answer] = fake.bot_messages(channel)
    await fake.gateway.dispatch("MESSAGE_REACTION_ADD", reaction(answer["id"], "👍"))
    await fake.gateway.dispatch("MESSAGE_REACTION_ADD", reaction(D_UNKNOWN, "▶️"))
    await fake.wait_for(lambda: fake.calls("GET", f"/channels/{channel}/messages/{D_UNKNOWN}"))
    await fake.post(payloads.message(channel, D_ASKER, f"and then? {TEXT}",
                                     message_id=D_FOLLOW_UP, reference=answer["id"]))  # fmt: skip
    await fake.wait_for(lambda: answers() >= 2, 120)
    edit = payloads.message(channel, D_ASKER, f"how do I undo? {TEXT}", message_id=D_QUESTION)
    await fake.gateway.dispatch("MESSAGE_UPDATE", edit)
    await fake.post(payloads.message(payloads.DM_CHANNEL_ID, D_ASKER, f"in private: {TEXT}",
                                     message_id=D_DM, guild_id=None))  # fmt: skip
    await fake.wait_for(lambda: answers() >= 3, 120)
    ask = {"name": "question", "type": 3, "value": f"where are the logs? {TEXT}"}
    await fake.interact(interaction(0, "ask", ask))
    await fake.wait_for(lambda: answers() >= 4, 120)
    await fake.interact(interaction(1, "run", {"name": "code", "type": 3,
                                               "value": f"print('{TEXT}')"}))  # fmt: skip
    await fake.wait_for(lambda: fake.calls("POST", f"/webhooks/{payloads.APP_ID}/{D_TOKENS[1]}"),
                        120)  # fmt: skip
    deleted = {"id": D_FOLLOW_UP, "channel_id": channel, "guild_id": guild}
    await fake.gateway.dispatch("MESSAGE_DELETE", deleted)


# -- the tests -----------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("log_format", ["text", "json"])
async def test_serve_logs_and_events_hold_no_platform_ids_or_message_text(
    clean_env: dict[str, str], sqlite_url: str, log_format: str
) -> None:
    fake_slack = await FakeSlack(team=TEAM).start()
    try:
        async with running_fake_discord() as fake_discord:
            env = {
                **clean_env, "DATABASE_URL": sqlite_url, "BUDDY_PORT": "0",
                "BUDDY_HOST": "127.0.0.1", "BUDDY_LOG_LEVEL": "DEBUG",
                "BUDDY_LOG_FORMAT": log_format, "BUDDY_SCHEDULER": "0",
                "SLACK_BOT_TOKEN": SLACK_TOKEN, "SLACK_SIGNING_SECRET": SECRET,
                "SLACK_API_URL": fake_slack.api_url, "DISCORD_TOKEN": DISCORD_TOKEN,
                "DISCORD_API_URL": fake_discord.api_url,
            }  # fmt: skip
            serving = Serving(env)
            try:
                base = await asyncio.to_thread(serving.wait_listening)
                await drive_discord(fake_discord)
                await drive_slack(fake_slack, base)
                await asyncio.sleep(1.0)  # the last events' handlers log after the ack
            finally:
                assert await asyncio.to_thread(serving.stop) == 0, serving.output[-3000:]
    finally:
        await fake_slack.stop()

    logs = serving.output
    # The logs were written, at DEBUG, by the code paths the events went through.
    assert "Slack: reaction on" in logs
    assert "Slack: a message was edited" in logs
    assert "👀 on" in logs  # the throttled reaction's warning
    assert "discord: synced" in logs
    if log_format == "json":
        records = [json.loads(line) for line in logs.splitlines() if line.startswith("{")]
        assert any(r["level"] == "DEBUG" for r in records)
    leaked = [line for line in logs.splitlines() if found_in(line)]
    assert not leaked, f"planted values {found_in(logs)} in the logs:\n" + "\n".join(leaked[:20])
    # The logging's net (ids masked as <id:...>) had nothing to catch in Buddy's own lines: the
    # call sites themselves name answers, never platform ids.
    masked = [line for line in own_lines(logs, log_format) if "<id:" in line]
    assert not masked, "platform ids logged by Buddy's code:\n" + "\n".join(masked[:20])

    events = buddy("events", "--json", env=env)
    assert events.returncode == 0, events.stderr
    types = [e["type"] for e in json.loads(events.stdout)["events"]]
    assert {"conversation.QuestionEdited", "conversation.QuestionDeleted",
            "feedback.RatingGiven", "sandbox.SnippetRun"} <= set(types)  # fmt: skip
    assert not found_in(events.stdout), f"planted values {found_in(events.stdout)} in the events"


async def test_promote_and_rollback_store_no_os_login(
    clean_env: dict[str, str], sqlite_url: str
) -> None:
    await seed(sqlite_url)
    login = "zzcanaryadmin"
    env = {**clean_env, "DATABASE_URL": sqlite_url,
           "LOGNAME": login, "USER": login, "LNAME": login, "USERNAME": login}  # fmt: skip
    for command in (["promote", "v1"], ["rollback"]):
        done = buddy(*command, env=env)
        assert done.returncode == 0, done.stderr
    events = buddy("events", "--json", env=env)
    assert events.returncode == 0, events.stderr
    assert login not in events.stdout
    registry = [e for e in json.loads(events.stdout)["events"]
                if e["type"] in ("training.ModelPromoted", "training.ModelRolledBack")]  # fmt: skip
    promoted, rolled = registry
    # Still accountable: the local user's pseudonym, the one `buddy ask` would store for them.
    assert re.fullmatch(r"[0-9a-f]{64}", promoted["metadata"]["by"])
    assert rolled["payload"]["details"]["by"] == promoted["metadata"]["by"]
