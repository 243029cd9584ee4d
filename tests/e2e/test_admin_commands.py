"""Admin commands doing the real work: in `buddy chat`'s local channel (`/admin ...`) over the
real services, store and a tiny model for the retrain; and on Slack through `buddy serve`, where
an export arrives in the admin's direct messages without the person who opted out.

The platform adapters themselves (acks, threads, DMs, refusals for every command) are tested
over their fakes: tests/adapter/{slack/test_slack_admin.py,discord/test_discord_admin.py}.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
import pytest

from bot.settings import Settings
from domain.admin import REFUSAL, audit_entries
from domain.curation import split_of
from domain.grounding.grounder import GroundingSettings
from domain.grounding.relevance import AbstainRule
from domain.model_registry import ServedModel
from domain.privacy_service import Person
from tests.adapter.fake_slack import TEAM
from tests.adapter.slack.harness import event_body, mention, reaction, signed
from tests.e2e.test_learning_loop import DOC, TOPICS, VersionedModel
from tests.e2e.test_serve_in_process import served_in_process
from training.tiny import make_tiny_gemma

pytestmark = pytest.mark.slow
# Words the scrubber leaves alone, planted in each person's questions (the scripted model
# repeats the question's topic in its answer, so they reach both sides of an example).
ALICE_WORD, BOB_WORD = "zanzibarquokka", "ottermango"


def topics_of(word: str) -> list[str]:
    """Six questions that curate into the train split and two into eval (split by hash)."""
    split = {t: split_of(f"How do I handle {t} {word}?") for t in TOPICS}
    return ([t for t in TOPICS if split[t] == "train"][:6]
            + [t for t in TOPICS if split[t] == "eval"][:2])  # fmt: skip


def png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


async def test_every_admin_command_in_the_local_channel(tmp_path: Path) -> None:
    from adapters.platforms.local.channel import LocalChannel
    from bot.bootstrap import bootstrap
    from bot.cli.chat import ChatSession
    from bot.cli.knowledge import ingest
    from bot.serve.model_serving import ModelServing

    (tmp_path / "kb").mkdir()
    (tmp_path / "kb" / "runbook.md").write_text(DOC)
    settings = Settings(
        BUDDY_DATA_DIR=tmp_path / "data", DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/b.db",
        BUDDY_LLM="ollama", BUDDY_TRAIN_BASE=make_tiny_gemma(tmp_path / "tiny-base"),
        BUDDY_TRAIN_BATCH=4, BUDDY_TRAIN_MAX_LENGTH=128, BUDDY_TRAIN_EPOCHS=1,
        BUDDY_ADMINS="local:alice",
    )  # type: ignore[call-arg]  # fmt: skip
    await ingest(settings, [tmp_path / "kb"], "Apache-2.0", None, "headings", True)
    async with bootstrap(settings) as services:

        async def load(served: ServedModel) -> VersionedModel:
            return VersionedModel(served.version)

        services._serving = ModelServing(services.model_registry(), load)
        trusting = GroundingSettings(
            rule=AbstainRule(0.0, 0.0, 0.0), min_support=0.0, min_passage_dense=0.0
        )
        answer = await services.answerer(LocalChannel(None), grounding=trusting)
        shown: list[str] = []
        sessions = {}
        for name in ("alice", "bob"):
            person = Person("local", "default", name)
            sessions[name] = ChatSession(services, answer, person, "general", shown.append)
            sessions[name].attachments = tmp_path / name
        for name, word in (("alice", ALICE_WORD), ("bob", BOB_WORD)):
            for topic in topics_of(word):
                await sessions[name].handle(f"How do I handle {topic} {word}?")
                await sessions[name].handle("/react 👍")
                await sessions[name].handle("/new")  # each question its own thread
        asked = len(topics_of(ALICE_WORD)) + len(topics_of(BOB_WORD))

        async def admin(line: str, who: str = "alice") -> str:
            shown.clear()
            await sessions[who].handle(f"/admin {line}")
            return "".join(shown)

        # Someone who is not an admin: refused, whatever the command.
        for line in ("stats", "export", "forget alice", "rollback"):
            assert REFUSAL in await admin(line, who="bob")

        assert "Admin commands (BUDDY_ADMINS only)" in await admin("help")
        said = await admin("stats")
        assert f"answers    {asked}" in said
        assert png_size((tmp_path / "alice" / "buddy-stats.png").read_bytes()) == (1000, 700)

        said = await admin("export all")
        exported = (tmp_path / "alice" / "buddy-all.jsonl").read_text()
        assert ALICE_WORD in exported
        assert BOB_WORD in exported
        assert f"exported {asked} all lines" in said

        # Bob opts out (by an admin): the next export leaves him out.
        assert "is now opted out" in await admin("optout bob")
        await admin("export all")
        exported = (tmp_path / "alice" / "buddy-all.jsonl").read_text()
        assert ALICE_WORD in exported
        assert BOB_WORD not in exported
        assert (tmp_path / "alice" / "buddy-all.jsonl").stat().st_mode & 0o077 == 0  # private

        said = await admin("retrain")
        assert f"… Curated {len(topics_of(ALICE_WORD))} examples" in said
        assert "… Training: step" in said
        assert "v1 passed the gate" in said or "v1 was not promoted" in said
        assert "v1" in await admin("models")
        if "v1 passed the gate" not in said:
            assert "Promoted v1 (was base)" in await admin("promote v1")
        assert "Rolled back v1 -> base." in await admin("rollback")
        assert "failed: nothing to roll back" in await admin("rollback")
        assert "is now opted in" in await admin("optin bob")
        assert "excluded from training" in await admin("exclude-channel random")
        assert "data keys shredded" in await admin("forget bob")
        assert "Usage: `promote VERSION`" in await admin("promote")

        audit = await admin("audit")
        entries = await audit_entries(services.store)
    outcomes = [(e.command, e.outcome) for e in entries]
    assert outcomes[:4] == [("stats", "refused"), ("export", "refused"), ("forget", "refused"),
                            ("rollback", "refused")]  # fmt: skip
    assert ("rollback", "failed") in outcomes
    assert ("promote", "usage") in outcomes
    assert [c for c, o in outcomes if o == "ok"][:4] == ["stats", "export", "optout", "export"]
    alice = [e.actor for e in entries if e.command == "retrain"]
    assert alice[0] in audit  # `/admin audit` lists who (a pseudonym prefix) did what
    assert "bob" not in json.dumps([e.as_json() for e in entries])  # people as pseudonyms


async def test_an_export_from_slack_arrives_as_a_dm_without_who_opted_out(tmp_path: Path) -> None:
    admin, alice, bob = "U0ADMIN1", "U0ALICE1", "U0BOB001"
    async with (
        served_in_process(tmp_path, BUDDY_ADMINS=f"slack:{admin}") as served,
        aiohttp.ClientSession() as session,
    ):
        fake = served.slack

        async def deliver(body: bytes, content_type: str = "application/json") -> None:
            headers = {**signed(body), "Content-Type": content_type}
            async with session.post(f"{served.base}/slack/events", data=body,
                                    headers=headers) as done:  # fmt: skip
                assert done.status == 200

        async def command(text: str, user: str, name: str) -> None:
            from urllib.parse import urlencode

            form = {"command": "/buddy", "text": text, "team_id": TEAM, "user_id": user,
                    "channel_id": "C1", "trigger_id": f"t-{name}",
                    "response_url": fake.response_url(name)}  # fmt: skip
            await deliver(urlencode(form).encode(), "application/x-www-form-urlencoded")
            await fake.wait_for(lambda: any(r["name"] == name for r in fake.responses), 60, name)

        for n, (user, word) in enumerate(((alice, ALICE_WORD), (bob, BOB_WORD))):
            ts = f"170000000{n}.000100"
            body = event_body(mention(f"how do I roll back production {word}?", ts, user=user),
                              f"Ev{n}")  # fmt: skip
            await deliver(body)
        await fake.wait_for(lambda: len([m for m in fake.messages if m.get("bot_id")]) == 2, 60)
        answers = [m for m in fake.messages if m.get("bot_id")]
        for n, answer in enumerate(answers):
            vote = reaction("+1", "C1", answer["ts"], user=(bob, alice)[n])
            await deliver(event_body(vote, f"Ev-vote{n}"))
        await asyncio.sleep(0.5)

        await command("export all", alice, "refused")
        await command(f"optout <@{bob}|bob>", admin, "optout")
        await command("export all", admin, "export")
        await fake.wait_for(lambda: bool(fake.uploaded()), 60, "the export upload")
    by_name = {r["name"]: r["text"] for r in fake.responses}
    assert by_name["refused"] == REFUSAL
    assert "opted out" in by_name["optout"]
    assert "direct message" in by_name["export"]
    [upload] = fake.uploaded()
    assert upload["channel"] == "D0ADMIN1"  # the admin's DM, opened with conversations.open
    exported = upload["content"].decode()
    assert ALICE_WORD in exported
    assert BOB_WORD not in exported
