"""A crash after the ack loses nothing and duplicates nothing: the next Buddy (a new
SlackService and worker over the same store, outbox and message refs) replies exactly once,
editing the reply a crashed Buddy had already posted instead of posting another."""

from __future__ import annotations

from tests.adapter.fake_slack import FakeSlack
from tests.adapter.slack.harness import ALICE, BuddyProcess, World, mention
from tests.fakes import ScriptedModel

QUESTION_TS = "1690000000.000100"
ANSWER = "Run make rollback [1]."


async def test_a_question_acked_but_not_answered_is_answered_once_after_a_restart(
    slack: FakeSlack, world: World
) -> None:
    first = await BuddyProcess(world, slack, ScriptedModel(["never sent"])).start()
    assert await first.event(mention("how do I roll back?", QUESTION_TS), "Ev1") == 200
    await first.crash()  # acked and stored; the worker never ran
    assert slack.called("chat.postMessage") == []

    second = await BuddyProcess(world, slack, ScriptedModel([ANSWER])).start()
    try:
        # Slack gave up on the first delivery's retries long ago; nothing new arrives.
        await second.answer_pending()
        await second.answer_pending()  # nothing left: no second reply
    finally:
        await second.stop()
    [post] = slack.called("chat.postMessage")
    assert post["thread_ts"] == QUESTION_TS
    assert slack.messages[-1]["text"].startswith(ANSWER)
    assert world.types() == ["conversation.QuestionAsked", "conversation.AnswerGiven"]
    assert await world.outbox.pending() == []


async def test_a_reply_posted_before_the_crash_is_edited_not_posted_again(
    slack: FakeSlack, world: World
) -> None:
    hanging = ScriptedModel(["Run make", " rollback", " and wait"], delay_s=0.05)
    first = await BuddyProcess(world, slack, hanging).start()
    await first.event(mention("how do I roll back?", QUESTION_TS), "Ev1")
    await first.worker.run_once()
    await slack.wait_for(lambda: bool(world.refs.posted_messages), what="the first draft")
    await first.crash()  # killed mid-stream: a draft is on screen, the answer is not stored
    [draft] = [m for m in slack.messages if m.get("bot_id")]
    assert draft["text"].startswith("Run make")

    second = await BuddyProcess(world, slack, ScriptedModel([ANSWER])).start()
    try:
        await second.answer_pending()
    finally:
        await second.stop()
    assert len(slack.called("chat.postMessage")) == 1
    assert slack.called("chat.update")[-1]["ts"] == draft["ts"]
    assert draft["text"].startswith(ANSWER)
    assert "*Sources*" in draft["text"]
    assert world.types() == ["conversation.QuestionAsked", "conversation.AnswerGiven"]


async def test_a_reply_sent_but_not_marked_sent_is_not_posted_twice(
    slack: FakeSlack, world: World
) -> None:
    first = await BuddyProcess(world, slack, ScriptedModel([ANSWER])).start()
    await first.event(mention("how do I roll back?", QUESTION_TS), "Ev1")
    [job] = await world.outbox.pending()
    await first.answerer.resume(job.payload)  # answered and posted ...
    await first.crash()  # ... and gone before the job was marked sent
    assert len(slack.called("chat.postMessage")) == 1

    second = await BuddyProcess(world, slack, ScriptedModel(["a different answer"])).start()
    try:
        await second.answer_pending()
    finally:
        await second.stop()
    assert len(slack.called("chat.postMessage")) == 1  # the resumed send found the reply
    assert next(m["text"] for m in slack.messages if m.get("bot_id")).startswith(ANSWER)
    assert world.types().count("conversation.AnswerGiven") == 1
    assert await world.outbox.pending() == []


async def test_a_reply_posted_but_not_yet_remembered_is_found_and_edited(
    slack: FakeSlack, world: World
) -> None:
    slack.add_message("C1", "<@UBOT> how do I roll back?", user=ALICE, ts=QUESTION_TS)
    slack.slow_down("chat.postMessage", 0.5)
    first = await BuddyProcess(world, slack, ScriptedModel([ANSWER])).start()
    await first.event(mention("how do I roll back?", QUESTION_TS), "Ev1")
    await first.worker.run_once()
    await slack.wait_for(lambda: bool(slack.called("chat.postMessage")), what="the post")
    await first.crash()  # Slack has the message; Buddy died before hearing its ts
    assert world.refs.posted_messages == []

    slack.slow_down("chat.postMessage", 0)
    second = await BuddyProcess(world, slack, ScriptedModel([ANSWER])).start()
    try:
        await second.answer_pending()
    finally:
        await second.stop()
    [message] = [m for m in slack.messages if m.get("bot_id")]
    assert len(slack.called("chat.postMessage")) == 1
    [lookup] = slack.called("conversations.replies")
    assert (lookup["ts"], lookup["include_all_metadata"]) == (QUESTION_TS, "1")
    assert message["text"].startswith(ANSWER)
    assert "*Sources*" in message["text"]
    [remembered] = world.refs.posted_messages
    assert remembered.message_id == message["ts"]
