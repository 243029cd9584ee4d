"""Slack over HTTP end to end: signed events into the real SlackService in an aiohttp server,
the real answering use cases over in-memory fakes, and the Web API calls seen by a fake Slack."""

from __future__ import annotations

import json

from tests.adapter.fake_slack import FakeSlack
from tests.adapter.slack.harness import (
    ALICE,
    BuddyProcess,
    World,
    mention,
    message,
    posted_texts,
    reaction,
)
from tests.fakes import ScriptedModel

QUESTION_TS = "1690000000.000100"


async def test_a_mention_is_stored_acked_and_answered_in_its_thread(
    slack: FakeSlack, world: World
) -> None:
    model = ScriptedModel(["Run ", "**make rollback**", " [1]."], delay_s=0.001)
    buddy = await BuddyProcess(world, slack, model).start()
    try:
        status = await buddy.event(mention("how do I roll back?", QUESTION_TS), "Ev1")
        assert status == 200
        # Stored before the ack, answered after it (by the worker, below): the ack never waits.
        assert world.types() == ["conversation.QuestionAsked"]
        await slack.wait_for(lambda: bool(slack.called("reactions.add")), what="👀")
        assert slack.called("reactions.add") == [
            {"channel": "C1", "timestamp": QUESTION_TS, "name": "eyes"}
        ]

        await buddy.answer_pending()
    finally:
        await buddy.stop()

    [post] = slack.called("chat.postMessage")
    assert post["channel"] == "C1"
    assert post["thread_ts"] == QUESTION_TS
    updates = slack.called("chat.update")
    assert len(updates) >= 2  # edited while it streamed, then the final edit
    assert all(u["ts"] == slack.messages[-1]["ts"] for u in updates)
    final = updates[-1]["text"]
    assert final.startswith("Run *make rollback* [1].")
    assert "*Sources*\n[1] kb/deploy.md:30-38 (MIT)" in final
    assert all(len(b["text"]["text"]) <= 3000 for b in updates[-1]["blocks"])
    assert slack.called("reactions.remove") == [
        {"channel": "C1", "timestamp": QUESTION_TS, "name": "eyes"}
    ]
    assert world.types() == ["conversation.QuestionAsked", "conversation.AnswerGiven"]
    [posted] = world.refs.posted_messages
    assert (posted.channel_id, posted.thread_id) == ("C1", QUESTION_TS)


async def test_direct_messages_and_follow_ups_in_the_bots_thread_are_questions(
    slack: FakeSlack, world: World
) -> None:
    buddy = await BuddyProcess(world, slack, ScriptedModel(["Run make rollback [1]."])).start()
    try:
        dm = message("how do I roll back?", "1690000001.000100", channel="D1", channel_type="im")
        assert await buddy.event(dm, "Ev1") == 200
        await buddy.answer_pending()
        assert slack.called("chat.postMessage")[0]["thread_ts"] == "1690000001.000100"

        await buddy.event(mention("how do I deploy?", QUESTION_TS), "Ev2")
        await buddy.answer_pending()
        follow_up = message("and on staging?", "1690000003.000100", thread_ts=QUESTION_TS)
        assert await buddy.event(follow_up, "Ev3") == 200
        # Not to the bot: another thread, a top-level message, a mention (app_mention has it).
        other = message("unrelated", "1690000004.000100", thread_ts="1680000000.000100")
        await buddy.event(other, "Ev4")
        await buddy.event(message("chatter", "1690000005.000100"), "Ev5")
        mentioned = message("<@UBOT> again", "1690000006.000100", thread_ts=QUESTION_TS)
        await buddy.event(mentioned, "Ev6")
        await buddy.answer_pending()
    finally:
        await buddy.stop()
    asked = [t for t in world.types() if t.endswith("Asked")]
    assert asked == ["conversation.QuestionAsked"] * 2 + ["conversation.FollowUpAsked"]
    assert [p["thread_ts"] for p in slack.called("chat.postMessage")][-1] == QUESTION_TS


async def test_bots_are_ignored_and_a_questions_edit_and_deletion_are_recorded(
    slack: FakeSlack, world: World
) -> None:
    buddy = await BuddyProcess(world, slack, ScriptedModel(["ok"])).start()
    asked = {"user": ALICE, "ts": QUESTION_TS, "text": "<@UBOT> hi"}
    try:
        await buddy.event(mention("hi", QUESTION_TS), "Ev1")
        await buddy.answer_pending()
        [answer] = world.refs.posted_messages
        ignored = [
            message("I am the bot", "1690000010.000100", channel="D1", channel_type="im",
                    user="UBOT", bot_id="BBOT"),
            message("another bot", "1690000011.000100", channel="D1", channel_type="im",
                    bot_id="B2", subtype="bot_message"),
            mention("from a bot", "1690000014.000100", user="U-other") | {"bot_id": "B2"},
            message("", "1690000015.000100", subtype="message_changed",  # Buddy's own edit
                    message={"user": "UBOT", "bot_id": "BBOT", "ts": answer.message_id,
                             "text": "ok"}, previous_message={"ts": answer.message_id}),
            message("", "1690000016.000100", subtype="message_changed",  # an unfurl
                    message=asked, previous_message=asked),
        ]  # fmt: skip
        for number, event in enumerate(ignored):
            assert await buddy.event(event, f"Ev-ignored-{number}") == 200
        assert world.types() == ["conversation.QuestionAsked", "conversation.AnswerGiven"]

        edited = message(
            "",
            "1690000017.000100",
            subtype="message_changed",
            message={**asked, "text": "<@UBOT> hello"},
            previous_message=asked,
        )
        deleted = message("", "1690000018.000100", subtype="message_deleted",
                          deleted_ts=QUESTION_TS, previous_message=asked)  # fmt: skip
        assert await buddy.event(edited, "Ev2") == 200
        assert await buddy.event(deleted, "Ev3") == 200
    finally:
        await buddy.stop()
    assert world.types()[2:] == ["conversation.QuestionEdited", "conversation.QuestionDeleted"]


async def test_mentions_in_model_output_are_inert(slack: FakeSlack, world: World) -> None:
    model = ScriptedModel(["Ping <!channel> and @here, <@U999> in <#C2> & <!everyone>."])
    buddy = await BuddyProcess(world, slack, model).start()
    try:
        await buddy.event(mention("who?", QUESTION_TS), "Ev1")
        await buddy.answer_pending()
    finally:
        await buddy.stop()
    [text] = posted_texts(slack)
    blocks_text = "".join(b["text"]["text"] for b in slack.messages[-1]["blocks"])
    for shown in (text, blocks_text):
        for live in ("<!channel>", "<!everyone>", "<@U999>", "<#C2>", "<!here>"):
            assert live not in shown
        assert "@here" not in shown  # a zero-width space breaks it
        assert "<" not in shown.split("*Sources*")[0]
        assert "&lt;\u200b!channel&gt;" in shown
        assert " &amp; " in shown


async def test_run_this_and_the_run_reaction_run_the_snippet(
    slack: FakeSlack, world: World
) -> None:
    buddy = await BuddyProcess(world, slack, ScriptedModel(["unused"])).start()
    try:
        asked = mention("run this\n```python\nprint('<!channel>')\n```", QUESTION_TS)
        assert await buddy.event(asked, "Ev1") == 200
        assert await buddy.event(asked, "Ev1", retry=1) == 200  # runs once all the same
        await slack.wait_for(lambda: len(posted_texts(slack)) == 1, what="the run's result")

        ts = slack.add_message("C1", "try ```echo hi```\n```sh\necho hi\n```", user=ALICE)
        assert await buddy.event(reaction("arrow_forward", "C1", ts), "Ev2") == 200
        await slack.wait_for(lambda: len(posted_texts(slack)) == 2, what="the ▶️ result")
    finally:
        await buddy.stop()
    first, second = posted_texts(slack)
    assert "ran python: print('&lt;\u200b!channel&gt;')" in first
    assert "ran bash: echo hi" in second
    assert slack.called("conversations.history")[0]["latest"] == ts
    assert [p.get("thread_ts") for p in slack.called("chat.postMessage")] == [QUESTION_TS, ts]
    assert world.types() == ["sandbox.SnippetRun"] * 2


async def test_the_url_verification_handshake_echoes_the_challenge(
    slack: FakeSlack, world: World
) -> None:
    buddy = await BuddyProcess(world, slack, ScriptedModel(["unused"])).start()
    body = json.dumps({"token": "legacy", "challenge": "3eZbrw1aB", "type": "url_verification"})
    try:
        status, text = await buddy.deliver(body.encode())
    finally:
        await buddy.stop()
    assert status == 200
    assert json.loads(text) == {"challenge": "3eZbrw1aB"}
    assert world.store.events == []


async def test_a_stopped_service_turns_events_away_for_slack_to_retry(
    slack: FakeSlack, world: World
) -> None:
    buddy = await BuddyProcess(world, slack, ScriptedModel(["unused"])).start()
    try:
        await buddy.service.stop()
        status = await buddy.event(mention("late?", QUESTION_TS), "Ev1")
    finally:
        await buddy.stop()
    assert status == 503  # Slack redelivers it; the next Buddy stores it
    assert world.store.events == []


async def test_the_bot_learns_its_user_id_from_auth_test(slack: FakeSlack, world: World) -> None:
    model = ScriptedModel(["ok"])
    buddy = await BuddyProcess(world, slack, model, bot_user_id=None).start()
    try:
        assert slack.calls[0].method == "auth.test"
        assert slack.calls[0].token == "xoxb-test-token"
        await buddy.event(mention("how do I roll back?", QUESTION_TS), "Ev1")
        await buddy.answer_pending()
    finally:
        await buddy.stop()
    assert "Question: how do I roll back?" in model.requests[0].messages[-1].content
