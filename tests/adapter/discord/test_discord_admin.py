"""Admin commands on Discord's `/buddy`: each one as the admin and as someone else, over the
fake's gateway and REST API. The console behind them runs scripted operations here; what each
does for real: tests/e2e/test_admin_commands.py."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.platforms.discord.translate import DISCORD_WORKSPACE
from domain.admin import COMMANDS, REFUSAL
from domain.event_types import AdminEvents
from domain.privacy_service import Person
from tests.adapter.discord import payloads as p
from tests.adapter.discord.harness import Bot, running_bot
from tests.adapter.fake_discord import Recorded
from tests.fakes import TINY_PNG, ScriptedAdminOperations

EPHEMERAL = 64
CHANNEL_HASH = "<#" + p.CHANNEL_ID + ">"
OPTIONS: dict[str, list[dict[str, Any]]] = {
    "export": [{"name": "split", "type": 3, "value": "train"}],
    "promote": [{"name": "version", "type": 3, "value": "v1"}],
    "forget": [{"name": "user", "type": 6, "value": p.BOB_ID}],
    "optout": [{"name": "user", "type": 6, "value": p.BOB_ID}],
    "optin": [{"name": "user", "type": 6, "value": p.BOB_ID}],
    "exclude-channel": [{"name": "channel", "type": 3, "value": CHANNEL_HASH}],
    "scope": [{"name": "sources", "type": 3, "value": "runbooks docs"}],
}
EXPECTED_CALL = {
    "stats": ("stats", ()), "export": ("export", ("train",)), "retrain": ("retrain", ()),
    "models": ("models", ()), "rollback": ("rollback", None), "promote": ("promote", None),
    "forget": ("forget", (Person("discord", DISCORD_WORKSPACE, p.BOB_ID),)),
    "optout": ("consent", (Person("discord", DISCORD_WORKSPACE, p.BOB_ID), True)),
    "optin": ("consent", (Person("discord", DISCORD_WORKSPACE, p.BOB_ID), False)),
    "exclude-channel": ("exclude_channel", ("discord", DISCORD_WORKSPACE, p.CHANNEL_ID)),
    "scope": ("scope", ("discord", DISCORD_WORKSPACE, p.CHANNEL_ID, ("runbooks", "docs"))),
}  # fmt: skip


def admin_command(name: str, who: dict[str, Any] = p.ALICE) -> dict[str, Any]:
    interaction = p.slash_command(name, OPTIONS.get(name), who=who)
    if name in ("forget", "optout", "optin"):  # Discord resolves a user option's id
        interaction["data"]["resolved"] = {"users": {p.BOB_ID: p.BOB}}
    return interaction


async def follow_ups(bot: Bot, interaction: dict[str, Any], count: int = 1) -> list[Recorded]:
    await bot.fake.interact(interaction)
    path = f"/webhooks/{p.APP_ID}/{interaction['token']}"
    found = await bot.fake.wait_for(lambda: len(bot.fake.calls("POST", path)) >= count or [])
    [callback] = bot.fake.calls("POST", f"/interactions/{interaction['id']}/")
    assert callback.body["data"]["flags"] & EPHEMERAL  # deferred for the admin's eyes only
    return found if isinstance(found, list) else bot.fake.calls("POST", path)


def audit(bot: Bot) -> list[dict[str, Any]]:
    return [dict(e.payload) for e in bot.store.events if e.type == AdminEvents.ADMIN_COMMAND_ISSUED]


@pytest.mark.parametrize("name", sorted(COMMANDS))
async def test_someone_not_an_admin_is_refused_and_the_attempt_recorded(name: str) -> None:
    async with running_bot() as bot:
        interaction = admin_command(name, who=p.BOB)
        await bot.fake.interact(interaction)
        path = f"/webhooks/{p.APP_ID}/{interaction['token']}"
        [refusal] = await bot.fake.wait_for(lambda: bot.fake.calls("POST", path))
        await bot.fake.wait_for(lambda: audit(bot))
        assert refusal.body["content"] == REFUSAL
        assert refusal.body["flags"] & EPHEMERAL
        assert bot.admin_operations.calls == []
        [entry] = audit(bot)
    assert entry["outcome"] == "refused"
    assert entry["command"] == name
    assert entry["actor"] == bot.privacy.pseudonym(Person("discord", DISCORD_WORKSPACE, p.BOB_ID))
    assert p.BOB_ID not in str(entry)
    assert p.CHANNEL_ID not in str(entry)


@pytest.mark.parametrize("name", sorted(COMMANDS))
async def test_the_admin_runs_each_command(name: str) -> None:
    async with running_bot() as bot:
        await bot.fake.interact(admin_command(name))
        await bot.fake.wait_for(lambda: audit(bot))
        [entry] = audit(bot)
        calls = bot.admin_operations.calls
    assert entry["outcome"] == "ok", entry
    assert entry["actor"] == bot.privacy.pseudonym(Person("discord", DISCORD_WORKSPACE, p.ALICE_ID))
    assert p.BOB_ID not in str(entry)
    assert p.CHANNEL_ID not in str(entry)
    if name == "audit":
        assert calls == []  # read from the store by the console itself
        return
    expected_name, expected_args = EXPECTED_CALL[name]
    [(called, args)] = calls
    assert called == expected_name
    if expected_args is not None:
        assert args == expected_args


async def test_stats_come_with_the_chart_for_the_admin() -> None:
    async with running_bot() as bot:
        [reply] = await follow_ups(bot, admin_command("stats"))
    assert reply.body["content"] == "**Stats** 3 answers"
    assert reply.body["flags"] & EPHEMERAL
    assert reply.files == [("buddy-stats.png", TINY_PNG)]


async def test_an_export_arrives_as_a_direct_message_file() -> None:
    async with running_bot() as bot:
        [said] = await follow_ups(bot, admin_command("export"))
        [opened] = bot.fake.calls("POST", "/users/@me/channels")
        [sent] = bot.fake.calls("POST", f"/channels/{p.DM_CHANNEL_ID}/messages")
    assert str(opened.body["recipient_id"]) == p.ALICE_ID
    assert sent.files == [("buddy-train.jsonl", ScriptedAdminOperations.EXPORT)]
    assert "2 lines" in sent.body["content"]
    assert "direct message" in said.body["content"]
    assert said.body["flags"] & EPHEMERAL
    assert not bot.fake.calls("POST", f"/channels/{p.CHANNEL_ID}/messages")  # not in the channel


async def test_retrain_reports_in_the_channel_as_replies_to_its_first_line() -> None:
    async with running_bot() as bot:
        interaction = admin_command("retrain")
        await bot.fake.interact(interaction)
        await bot.fake.wait_for(lambda: audit(bot))
        posts = bot.fake.calls("POST", f"/channels/{p.CHANNEL_ID}/messages")
        texts = [post.body["content"] for post in posts]
        [first] = [m for m in bot.fake.bot_messages(p.CHANNEL_ID) if m["content"] == texts[0]]
    assert texts[0].startswith("Retraining")
    assert texts[1:3] == ["Training: step 1/2.", "Training: step 2/2."]
    assert texts[-1].startswith("v1 passed the gate")
    assert not posts[0].body.get("message_reference")  # the first line starts the "thread"
    for later in posts[1:]:
        assert str(later.body["message_reference"]["message_id"]) == first["id"]


async def test_a_refused_operation_is_said_and_recorded_as_failed() -> None:
    async with running_bot() as bot:
        interaction = admin_command("promote")
        interaction["data"]["options"][0]["options"][0]["value"] = "v9"
        [said] = await follow_ups(bot, interaction)
        await bot.fake.wait_for(lambda: audit(bot))
        [entry] = audit(bot)
    assert said.body["content"] == "`promote` failed: no version v9"
    assert entry["outcome"] == "failed"
    assert entry["arguments"] == ["v9"]
