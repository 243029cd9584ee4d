"""Socket Mode against the fake Slack's websocket: apps.connections.open with the app token,
envelopes in, acks out (after the question is stored), replies through the Web API."""

from __future__ import annotations

import json
from typing import Any

import pytest

from adapters.platforms.slack.errors import SlackUnavailable
from tests.adapter.fake_slack import FakeSlack
from tests.adapter.slack.harness import BuddyProcess, World, event_body, mention
from tests.fakes import ScriptedModel

QUESTION_TS = "1690000000.000100"


def envelope(envelope_id: str, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {"envelope_id": envelope_id, "type": kind, "payload": payload,
            "accepts_response_payload": kind != "events_api"}  # fmt: skip


async def test_events_and_commands_arrive_over_socket_mode(slack: FakeSlack, world: World) -> None:
    stored_at_ack: dict[str, list[str]] = {}

    def on_ack(ack: dict[str, Any]) -> None:
        stored_at_ack[ack["envelope_id"]] = world.types()

    slack.on_socket_ack = on_ack
    model = ScriptedModel(["Run make rollback [1]."])
    buddy = await BuddyProcess(world, slack, model, socket_mode=True).start()
    try:
        [opened] = [c for c in slack.calls if c.method == "apps.connections.open"]
        assert opened.token == "xapp-test-token"
        payload = json.loads(event_body(mention("how do I roll back?", QUESTION_TS), "Ev1"))
        await slack.push_envelope(envelope("env-1", "events_api", payload))
        await slack.wait_for(lambda: "env-1" in stored_at_ack, what="the event's ack")
        assert stored_at_ack["env-1"] == ["conversation.QuestionAsked"]

        command = {"command": "/buddy", "text": "help", "team_id": "T1", "user_id": "U1",
                   "channel_id": "C1", "trigger_id": "t1",
                   "response_url": slack.response_url()}  # fmt: skip
        await slack.push_envelope(envelope("env-2", "slash_commands", command))
        await slack.wait_for(lambda: "env-2" in stored_at_ack, what="the command's ack")
        await buddy.answer_pending()
    finally:
        await buddy.stop()
    [help_ack] = [a for a in slack.socket_acks if a["envelope_id"] == "env-2"]
    assert "/buddy ask" in help_ack["payload"]["text"]
    [post] = slack.called("chat.postMessage")
    assert post["thread_ts"] == QUESTION_TS
    assert world.types() == ["conversation.QuestionAsked", "conversation.AnswerGiven"]


async def test_an_app_token_slack_refuses_fails_the_start(slack: FakeSlack, world: World) -> None:
    slack.app_token_valid = False
    buddy = BuddyProcess(world, slack, ScriptedModel(["ok"]), socket_mode=True,
                         connect_timeout_s=0.3)  # fmt: skip
    with pytest.raises(SlackUnavailable, match="SLACK_APP_TOKEN"):
        await buddy.start()
    await buddy.stop()


async def test_connected_follows_the_websocket(slack: FakeSlack, world: World) -> None:
    """What /readyz reports for Slack: up while the Socket Mode websocket is open."""
    buddy = await BuddyProcess(world, slack, ScriptedModel(["ok"]), socket_mode=True).start()
    try:
        assert buddy.service.connected
        slack.app_token_valid = False  # Slack drops the connection and refuses a new one
        for socket in list(slack._sockets):
            await socket.close()
        await slack.wait_for(lambda: not buddy.service.connected, what="the drop noticed")
        slack.app_token_valid = True  # back: the client reconnects by itself
        await slack.wait_for(lambda: buddy.service.connected, 15, what="the reconnection")
    finally:
        await buddy.stop()
    assert not buddy.service.connected
