"""Canaries through the whole pipeline: planted in an ingested document, in Slack and Discord
questions, in a sandbox snippet's output and in the model's answers, they never reach a plaintext
sink in clear: the logs (JSON, DEBUG), the database files (vector rows, full-text index,
projections, lineage), the curated files, synthetic pairs, exports, the training run's files,
the model registry, and what `buddy events`, `models` and `stats` print.

Each canary is an email address and a token whose distinctive part (the address's local part,
the token's body) is searched for, so a full-text index that kept one word of it is caught too.
The stored questions and answers are encrypted, so the raw bytes of the database prove nothing
about them; what they prove is that no plaintext copy exists anywhere else."""

from __future__ import annotations

import asyncio
import json
import signal
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.adapter.discord import payloads
from tests.adapter.fake_discord import TOKEN as DISCORD_TOKEN
from tests.adapter.fake_discord import running_fake_discord
from tests.adapter.fake_ollama import FakeOllama, Script, running
from tests.adapter.fake_slack import FakeSlack
from tests.adapter.slack.harness import SECRET, event_body, mention, reaction, signed
from tests.e2e.test_cli import buddy
from tests.e2e.test_serve_cli import start_serving
from training.tiny import make_tiny_gemma

pytestmark = pytest.mark.slow

# Where each canary is planted -> (email local part, token body). Fixed, so the curated splits
# (chosen by a hash of the question) are the same on every run.
CANARIES = {
    "document": ("qzdocmail7", "Dq8RrT2uV4wX6yZ0aB1cE3fG5hJ7kL9mN2pQ"),
    "slack": ("qzslackmail7", "Sk8RrT2uV4wX6yZ0aB1cE3fG5hJ7kL9mN2pQ"),
    "discord": ("qzdiscordmail7", "Dc8RrT2uV4wX6yZ0aB1cE3fG5hJ7kL9mN2pQ"),
    "snippet": ("qzsnippetmail7", "Sn8RrT2uV4wX6yZ0aB1cE3fG5hJ7kL9mN2pQ"),
    "answer": ("qzanswermail7", "An8RrT2uV4wX6yZ0aB1cE3fG5hJ7kL9mN2pQ"),
}
SLACK_QUESTIONS = [
    "how do I roll back a production deploy?",
    "what is the rollback command for production?",
    "who owns the rollback runbook?",
    "what do I run to roll production back?",
]


def planted(where: str) -> str:
    local, body = CANARIES[where]
    return f"{local}@example.com ghp_{body}"


def leaks(text: str) -> list[str]:
    return [
        f"{where} {part}" for where, parts in CANARIES.items() for part in parts if part in text
    ]


DOC = f"""# Rollback

Roll back production with `make rollback ENV=production`. The rollback runbook is owned by the
platform team; questions to {planted("document")} in the deploy channel. A rollback keeps
the database as it is: to undo a migration, write a new forward migration and deploy it.

# Staging

Deploy a branch to staging with `make deploy ENV=staging`.
"""
# The fake model says the same to every prompt: as a served answer its second sentence fails the
# support check (the reply quotes the passage instead); as a cold-start pair (`curate
# --synthesize`) it is a question and an answer, and the answer, canary and all, is curated.
ANSWER = (
    "How do I roll back production? Run `make rollback ENV=production` [1]; questions go to "
    f"{planted('answer')} in the deploy channel."
)


async def test_canaries_never_reach_a_plaintext_sink(
    clean_env: dict[str, str], sqlite_url: str, tmp_path: Path
) -> None:
    (tmp_path / "kb").mkdir()
    (tmp_path / "kb" / "runbook.md").write_text(DOC)
    fake_ollama = FakeOllama(scripts={"gemma3:270m": Script(parts=[ANSWER])})
    logs: list[str] = []
    async with running(fake_ollama), running_fake_discord() as discord:
        slack = await FakeSlack().start()
        env = {
            **clean_env, "DATABASE_URL": sqlite_url, "BUDDY_LLM": "ollama",
            "OLLAMA_HOST": fake_ollama.host, "BUDDY_LOG_LEVEL": "DEBUG",
            "BUDDY_LOG_FORMAT": "json", "BUDDY_TRAIN_BASE": str(make_tiny_gemma(tmp_path / "tiny")),
            "BUDDY_TRAIN_MAX_LENGTH": "128",
        }  # fmt: skip
        await asyncio.to_thread(
            cli, env, "ingest", str(tmp_path / "kb"), "--license", "MIT", logs=logs
        )
        serve_env = env | {
            "BUDDY_PORT": "0", "BUDDY_HOST": "127.0.0.1", "SLACK_BOT_TOKEN": "xoxb-test",
            "SLACK_SIGNING_SECRET": SECRET, "SLACK_API_URL": slack.api_url,
            "DISCORD_TOKEN": DISCORD_TOKEN, "DISCORD_API_URL": discord.api_url,
        }  # fmt: skip
        try:
            logs.append(await converse(serve_env, slack, discord))
        finally:
            await slack.stop()
        # The cold start's synthetic pairs are written by the (fake) served model.
        await asyncio.to_thread(learn, env, tmp_path, logs)
    found = await asyncio.to_thread(scan, env, sqlite_url, tmp_path, "".join(logs))
    assert not found, found


def learn(env: dict[str, str], tmp_path: Path, logs: list[str]) -> None:
    """Curate (with synthetic pairs), export, train, and print events, models and stats."""
    curated = json.loads(cli(env, "curate", "--synthesize", "2", "--json", logs=logs))
    assert curated["train"] >= 1, curated
    assert curated["synthesized"] >= 1, json.dumps(curated)  # the model's answer went in
    export = tmp_path / "export.jsonl"
    cli(env, "export", "--out", str(export), logs=logs)
    cli(env, "export", "--out", str(tmp_path / "pairs.jsonl"), "--split", "pairs", logs=logs)
    assert "make rollback" in export.read_text()  # the answers were curated, with their text
    trained = json.loads(cli(env, "train", "--max-steps", "2", "--json", logs=logs, timeout=600))
    assert trained["status"] == "finished", trained
    events = cli(env, "events", "--json", logs=logs)
    assert "conversation.QuestionAsked" in events
    assert "sandbox.SnippetRun" in events  # the snippet ran, and its run was recorded
    cli(env, "models", "--json", logs=logs)
    cli(env, "stats", "--json", logs=logs)


def scan(env: dict[str, str], sqlite_url: str, tmp_path: Path, logs: str) -> dict[str, list[str]]:
    """Every plaintext sink -> the canaries found in it."""
    sinks = {"logs and printed output": logs}
    data_dir = Path(env["BUDDY_DATA_DIR"])
    database = Path(sqlite_url.removeprefix("sqlite+aiosqlite:///"))
    files = [
        *data_dir.rglob("*"),
        *database.parent.glob(database.name + "*"),
        *tmp_path.glob("*.jsonl"),
    ]
    for path in files:
        if path.is_file():
            sinks[str(path)] = path.read_bytes().decode("utf-8", errors="replace")
    assert any("datasets" in name for name in sinks)
    assert any("adapters" in name for name in sinks)
    return {name: leaks(text) for name, text in sinks.items() if leaks(text)}


def cli(env: dict[str, str], *args: str, logs: list[str], timeout: float = 300) -> str:
    """Run a command; what it printed (both streams) joins `logs`; its stdout."""
    done = buddy(*args, env=env, timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    logs += [done.stderr, done.stdout]
    return done.stdout


async def converse(env: dict[str, str], slack: FakeSlack, discord: Any) -> str:
    """Questions with canaries on Slack and Discord, each answer rated, and a snippet whose
    output carries one; the server's whole log."""
    process, base = await asyncio.to_thread(start_serving, env)
    drained: list[str] = []
    assert process.stderr is not None
    reader = threading.Thread(target=lambda: drained.extend(process.stderr), daemon=True)  # type: ignore[arg-type]
    reader.start()
    try:
        await ask_on_slack(base, slack)
        await ask_on_discord(discord)
        await run_a_snippet(base, slack)
    finally:
        process.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(process.wait, 60) == 0, "".join(drained)
        reader.join(10)
    return "".join(drained)


async def deliver(base: str, body: bytes, content_type: str = "application/json") -> None:
    import aiohttp

    headers = {**signed(body), "Content-Type": content_type}
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{base}/slack/events", data=body, headers=headers) as done,
    ):
        assert done.status == 200, await done.text()


async def ask_on_slack(base: str, slack: FakeSlack) -> None:
    for index, question in enumerate(SLACK_QUESTIONS):
        ts = slack.add_message("C1", f"<@UBOT> {question} {planted('slack')}", user="U-alice",
                               ts=f"17000000{index:02d}.000100")  # fmt: skip
        await deliver(base, event_body(mention(f"{question} {planted('slack')}", ts), f"Ev{index}"))
        await slack.wait_for(
            lambda ts=ts: any(m.get("bot_id") and m.get("thread_ts") == ts and "[1]" in m["text"]
                              for m in slack.messages),
            120, f"the answer to question {index}",
        )  # fmt: skip
        await asyncio.sleep(0.5)  # the reply's last edit and its message ref are stored
        [answer] = [m for m in slack.messages if m.get("bot_id") and m.get("thread_ts") == ts]
        await deliver(base, event_body(reaction("+1", "C1", answer["ts"]), f"Ev{index}r"))


async def ask_on_discord(discord: Any) -> None:
    text = f"<@{payloads.BOT_ID}> how do I roll back production? {planted('discord')}"
    await discord.post(payloads.message(payloads.CHANNEL_ID, payloads.ALICE, text))
    [answer] = await discord.wait_for(
        lambda: [m for m in discord.bot_messages(payloads.CHANNEL_ID) if "[1]" in m["content"]],
        seconds=120,
    )
    await asyncio.sleep(0.5)
    await discord.gateway.dispatch(
        "MESSAGE_REACTION_ADD", payloads.reaction(answer["id"], payloads.BOB_ID, "👍")
    )


async def run_a_snippet(base: str, slack: FakeSlack) -> None:
    from urllib.parse import urlencode

    code = f"print('{planted('snippet')}')"
    form = {"command": "/buddy", "text": f"run ```python\n{code}\n```", "team_id": "T1",
            "user_id": "U-alice", "channel_id": "C1", "trigger_id": "trig-1",
            "response_url": slack.response_url("r1")}  # fmt: skip
    await deliver(base, urlencode(form).encode(), "application/x-www-form-urlencoded")
    await slack.wait_for(
        lambda: any("EMAIL" in json.dumps(r) or CANARIES["snippet"][0] in json.dumps(r)
                    for r in slack.responses),
        120, "the snippet's output",
    )  # fmt: skip
