"""Admin commands on Slack's `/buddy`: each one as the admin and as someone else, over HTTP
with the fake Web API. The console behind them runs scripted operations here; what each does
for real: tests/e2e/test_admin_commands.py."""

from __future__ import annotations

import json
from typing import Any

import pytest

from domain.admin import COMMANDS, REFUSAL
from domain.event_types import AdminEvents
from domain.privacy_service import Person
from tests.adapter.fake_slack import TEAM, FakeSlack
from tests.adapter.slack.harness import ALICE, BOB, BuddyProcess, World
from tests.fakes import TINY_PNG, ScriptedAdminOperations, ScriptedModel

TARGET = "U0BOB1234"
ARGUMENTS = {
    "export": "train", "promote": "v1", "forget": f"<@{TARGET}|bob>", "optout": TARGET,
    "optin": f"<@{TARGET}>", "exclude-channel": "<#C0RANDOM|random>", "scope": "runbooks docs",
}  # fmt: skip
EXPECTED_CALL = {
    "stats": ("stats", ()), "export": ("export", ("train",)), "retrain": ("retrain", ()),
    "models": ("models", ()), "rollback": ("rollback", None), "promote": ("promote", None),
    "forget": ("forget", (Person("slack", TEAM, TARGET),)),
    "optout": ("consent", (Person("slack", TEAM, TARGET), True)),
    "optin": ("consent", (Person("slack", TEAM, TARGET), False)),
    "exclude-channel": ("exclude_channel", ("slack", TEAM, "C0RANDOM")),
    "scope": ("scope", ("slack", TEAM, "C1", ("runbooks", "docs"))),
}  # fmt: skip


def audit(world: World) -> list[dict[str, Any]]:
    found = world.store.events
    return [dict(e.payload) for e in found if e.type == AdminEvents.ADMIN_COMMAND_ISSUED]


async def issue(buddy: BuddyProcess, name: str, user: str = ALICE) -> None:
    text = f"{name} {ARGUMENTS.get(name, '')}".strip()
    ack = json.loads(await buddy.command(text, response=name, user=user))
    assert ack == {"text": "Working on it…", "response_type": "ephemeral"}
    await buddy.slack.wait_for(lambda: bool(audit(buddy.world)), what="the audit entry")


@pytest.mark.parametrize("name", sorted(COMMANDS))
async def test_someone_not_an_admin_is_refused_and_the_attempt_recorded(
    slack: FakeSlack, world: World, name: str
) -> None:
    buddy = await BuddyProcess(world, slack, ScriptedModel(["unused"])).start()
    try:
        await issue(buddy, name, user=BOB)
        await slack.wait_for(lambda: bool(slack.responses), what="the refusal")
    finally:
        await buddy.stop()
    [refusal] = slack.responses
    assert refusal["text"] == REFUSAL
    assert refusal["response_type"] == "ephemeral"
    assert buddy.admin_operations.calls == []
    [entry] = audit(world)
    assert entry["outcome"] == "refused"
    assert entry["actor"] == world.privacy.pseudonym(Person("slack", TEAM, BOB))
    assert TARGET not in str(entry)
    assert "C0RANDOM" not in str(entry)


@pytest.mark.parametrize("name", sorted(COMMANDS))
async def test_the_admin_runs_each_command(slack: FakeSlack, world: World, name: str) -> None:
    buddy = await BuddyProcess(world, slack, ScriptedModel(["unused"])).start()
    try:
        await issue(buddy, name)
    finally:
        await buddy.stop()
    [entry] = audit(world)
    assert entry["outcome"] == "ok", entry
    assert entry["actor"] == world.privacy.pseudonym(Person("slack", TEAM, ALICE))
    assert TARGET not in str(entry)  # people and channels named are stored as pseudonyms
    assert "C0RANDOM" not in str(entry)
    calls = buddy.admin_operations.calls
    if name == "audit":
        assert calls == []  # read from the store by the console itself
        return
    expected_name, expected_args = EXPECTED_CALL[name]
    [(called, args)] = calls
    assert called == expected_name
    if expected_args is not None:
        assert args == expected_args


async def test_stats_post_the_chart_in_the_channel(slack: FakeSlack, world: World) -> None:
    buddy = await BuddyProcess(world, slack, ScriptedModel(["unused"])).start()
    try:
        await issue(buddy, "stats")
    finally:
        await buddy.stop()
    [upload] = slack.uploaded()
    assert upload == {"channel": "C1", "name": "buddy-stats.png", "comment": "*Stats* 3 answers",
                      "content": TINY_PNG}  # fmt: skip


async def test_an_export_goes_to_a_direct_message(slack: FakeSlack, world: World) -> None:
    buddy = await BuddyProcess(world, slack, ScriptedModel(["unused"])).start()
    try:
        await issue(buddy, "export")
        await slack.wait_for(lambda: bool(slack.responses), what="the export's note")
    finally:
        await buddy.stop()
    [opened] = slack.called("conversations.open")
    assert opened["users"] == ALICE
    [upload] = slack.uploaded()
    assert upload["channel"] == "D-alice"  # the fake's DM channel id for U-alice
    assert upload["content"] == ScriptedAdminOperations.EXPORT
    assert upload["name"] == "buddy-train.jsonl"
    [said] = slack.responses
    assert "direct message" in said["text"]
    assert said["response_type"] == "ephemeral"


async def test_retrain_reports_in_one_thread(slack: FakeSlack, world: World) -> None:
    buddy = await BuddyProcess(world, slack, ScriptedModel(["unused"])).start()
    try:
        await issue(buddy, "retrain")
    finally:
        await buddy.stop()
    first, *later = slack.called("chat.postMessage")
    assert first["channel"] == "C1"
    assert "thread_ts" not in first
    assert first["text"].startswith("Retraining")
    [root] = [m for m in slack.messages if m["text"] == first["text"]]
    assert [m["text"] for m in later] == [
        "Training: step 1/2.", "Training: step 2/2.",
        "v1 passed the gate and is now served (eval_loss 1.0, served_eval_loss 2.0).",
    ]  # fmt: skip
    assert {m["thread_ts"] for m in later} == {root["ts"]}


async def test_a_user_named_by_name_gets_the_usage(slack: FakeSlack, world: World) -> None:
    buddy = await BuddyProcess(world, slack, ScriptedModel(["unused"])).start()
    try:
        await buddy.command("forget @bob", response="forget")
        await slack.wait_for(lambda: bool(audit(world)), what="the audit entry")
    finally:
        await buddy.stop()
    [said] = slack.responses
    assert "mention the user or give its id" in said["text"]
    assert "Usage: `forget USER`" in said["text"]
    assert buddy.admin_operations.calls == []
    assert audit(world)[0]["outcome"] == "usage"
