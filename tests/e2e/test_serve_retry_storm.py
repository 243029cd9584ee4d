"""A retry storm against `buddy serve` on a real store: Slack delivers each of 200 events 4 times
at once over signed HTTP (X-Slack-Retry-Num 0-3), on SQLite and on the embedded PostgreSQL. The
store's idempotency keeps it to exactly 200 questions, 200 answers and 200 replies."""

from __future__ import annotations

import asyncio
from collections import Counter

import aiohttp
import pytest

from adapters.store.database import create_database
from adapters.store.outbox import SqlOutbox
from tests.adapter.fake_slack import FakeSlack
from tests.adapter.slack.harness import mention
from tests.e2e.serving import serving, slack_env, slack_event, stored_events

pytestmark = pytest.mark.slow

EVENTS = 200
DELIVERIES = 4
CHANNELS = 50  # Slack paces posts per channel (1 a second): spread them so the storm is quick


async def pending_replies(url: str) -> int:
    db = create_database(url)
    try:
        return len(await SqlOutbox(db).pending(limit=10_000))
    finally:
        await db.dispose()


async def test_200_events_delivered_4_times_at_once_over_http_are_answered_once(
    clean_env: dict[str, str], database_url: str
) -> None:
    fake = await FakeSlack().start()
    # One person asks all 200 here: the abuse limits (tested on their own) would refuse most.
    env = {**clean_env, **slack_env(fake), "DATABASE_URL": database_url, "BUDDY_SCHEDULER": "0",
           "BUDDY_RATE_QUESTIONS_PER_USER": "0",
           "BUDDY_RATE_QUESTIONS_PER_CHANNEL": "0"}  # fmt: skip
    events = [
        (mention(f"question {n}?", f"1690000{n:03d}.000100", channel=f"C{n % CHANNELS}"), f"Ev{n}")
        for n in range(EVENTS)
    ]
    try:
        async with (
            serving(env) as served,
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session,
        ):
            statuses = await asyncio.gather(*(
                slack_event(session, served.base, event, event_id, retry=attempt)
                for attempt in range(DELIVERIES) for event, event_id in events
            ))  # fmt: skip
            await fake.wait_for(
                lambda: len(fake.called("reactions.remove")) >= EVENTS, 300, "200 answers"
            )
    finally:
        await fake.stop()
    assert statuses == [200] * (EVENTS * DELIVERIES)
    types = Counter(event.type for event in await stored_events(database_url))
    assert types["conversation.QuestionAsked"] == EVENTS
    assert types["conversation.AnswerGiven"] == EVENTS
    assert await pending_replies(database_url) == 0
    posts = fake.called("chat.postMessage")
    assert len(posts) == EVENTS
    assert len({(p["channel"], p["thread_ts"]) for p in posts}) == EVENTS  # one per question
    assert len(fake.called("reactions.add")) == EVENTS  # 👀 once per question, not per delivery
    assert len(fake.called("reactions.remove")) == EVENTS
