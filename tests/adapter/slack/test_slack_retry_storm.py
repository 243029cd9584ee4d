"""Slack redelivers an event it thinks was lost (X-Slack-Retry-Num); under a storm of
concurrent redeliveries each question is still stored once and answered once."""

from __future__ import annotations

import asyncio
from collections import Counter

from tests.adapter.fake_slack import FakeSlack
from tests.adapter.slack.harness import BuddyProcess, World, mention
from tests.fakes import ScriptedModel

EVENTS = 200
DELIVERIES = 4


async def test_each_of_200_events_delivered_4_times_concurrently_is_answered_once(
    slack: FakeSlack, world: World
) -> None:
    model = ScriptedModel(["Run make rollback [1]."])
    buddy = await BuddyProcess(world, slack, model, post_interval_s=0.001, concurrency=16).start()
    events = [
        (mention(f"question {n}?", f"1690000{n:03d}.000100", channel=f"C{n % 20}"), f"Ev{n}")
        for n in range(EVENTS)
    ]
    deliveries = [
        buddy.event(event, event_id, retry=attempt)
        for attempt in range(DELIVERIES)
        for event, event_id in events
    ]
    try:
        statuses = await asyncio.gather(*deliveries)
        await slack.wait_for(
            lambda: len(slack.called("reactions.add")) == EVENTS, what="200 👀 reactions"
        )
        await buddy.answer_pending()
    finally:
        await buddy.stop()

    assert statuses == [200] * (EVENTS * DELIVERIES)
    assert world.types().count("conversation.QuestionAsked") == EVENTS
    assert world.types().count("conversation.AnswerGiven") == EVENTS
    assert len(world.store.outbox) == EVENTS
    posts = slack.called("chat.postMessage")
    assert len(posts) == EVENTS
    assert Counter((p["channel"], p["thread_ts"]) for p in posts).most_common(1)[0][1] == 1
    assert len(world.refs.posted_messages) == EVENTS
    assert len(slack.called("reactions.add")) == EVENTS  # 👀 once per question, not per delivery
    assert len(slack.called("reactions.remove")) == EVENTS
    assert await world.outbox.pending() == []
