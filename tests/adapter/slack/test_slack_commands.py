"""`/buddy` over HTTP: acked without waiting for the work (Slack allows 3 seconds), the work done
after the ack, results through the response_url; and the HTTP transport refuses to start without a
signing secret."""

from __future__ import annotations

import json

import pytest

from adapters.platforms.slack.service import SlackService
from domain.errors import ConfigurationError
from tests.adapter.fake_slack import FakeSlack
from tests.adapter.slack.harness import BuddyProcess, World
from tests.fakes import ScriptedModel


async def reply(buddy: BuddyProcess, text: str, response: str = "r1") -> str:
    body = await buddy.command(text, response=response)
    return json.loads(body)["text"] if body else ""


async def test_help_is_the_ack_and_admin_commands_are_acked_before_their_work(
    slack: FakeSlack, world: World
) -> None:
    buddy = await BuddyProcess(world, slack, ScriptedModel(["ok"])).start()
    try:
        help_text = await reply(buddy, "help")
        assert "/buddy ask" in help_text
        assert await reply(buddy, "") == help_text
        assert "/buddy exclude-channel CHANNEL" in await reply(buddy, "help admin")

        buddy.admin_released.clear()  # the command is held at its work: the ack must not wait
        assert await reply(buddy, "models", "models") == "Working on it…"
        assert slack.responses == []
        buddy.admin_released.set()
        await slack.wait_for(lambda: bool(slack.responses), what="the models response")
    finally:
        await buddy.stop()
    [models] = slack.responses
    assert models["name"] == "models"
    assert models["text"] == "```\n* base base served\n```"  # the operation's text, as code
    assert models["response_type"] == "ephemeral"


async def test_ask_stores_the_question_before_the_ack_and_answers_in_the_channel(
    slack: FakeSlack, world: World
) -> None:
    buddy = await BuddyProcess(world, slack, ScriptedModel(["Run make rollback [1]."])).start()
    try:
        assert await reply(buddy, "ask how do I roll back?") == "Working on it…"
        assert world.types() == ["conversation.QuestionAsked"]
        await buddy.answer_pending()
    finally:
        await buddy.stop()
    [post] = slack.called("chat.postMessage")
    assert post["channel"] == "C1"
    assert "thread_ts" not in post  # in the channel: the reply starts the thread
    [posted] = world.refs.posted_messages
    assert posted.thread_id == posted.message_id  # follow-ups in its thread reach the bot


async def test_run_posts_the_result_in_the_channel(slack: FakeSlack, world: World) -> None:
    buddy = await BuddyProcess(world, slack, ScriptedModel(["unused"])).start()
    try:
        ack = await reply(buddy, "run ```sh\necho @channel\n```")
        assert ack == "Working on it…"
        usage = await reply(buddy, "run")
        assert usage.startswith("Usage")
        await slack.wait_for(lambda: bool(slack.responses), what="the run's result")
        await reply(buddy, "run print(1)", "plain")
        await slack.wait_for(lambda: len(slack.responses) == 2, what="the plain run's result")
    finally:
        await buddy.stop()
    fenced, plain = slack.responses
    assert fenced["response_type"] == "in_channel"
    assert "ran bash: echo @\u200bchannel" in fenced["text"]
    assert "ran python: print(1)" in plain["text"]
    assert world.types() == ["sandbox.SnippetRun"] * 2


async def test_unknown_subcommands_get_help(slack: FakeSlack, world: World) -> None:
    buddy = await BuddyProcess(world, slack, ScriptedModel(["unused"])).start()
    try:
        text = await reply(buddy, "<!channel> please")
    finally:
        await buddy.stop()
    assert text.startswith("I don't know `&lt;\u200b!channel&gt;`")


def test_http_mode_without_a_signing_secret_refuses_to_start() -> None:
    with pytest.raises(ConfigurationError, match="SLACK_SIGNING_SECRET"):
        SlackService("xoxb-t", signing_secret=None, app_token=None, api_url=None)
    with pytest.raises(ConfigurationError):
        SlackService("xoxb-t", signing_secret="", app_token="", api_url=None)
    SlackService("xoxb-t", signing_secret=None, app_token="xapp-1", api_url=None)  # Socket Mode
