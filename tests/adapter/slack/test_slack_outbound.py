"""Outbound robustness against the fake Slack: 429 with Retry-After retried, per-channel
pacing, long answers split into section blocks or attached as a file, failures kept pending."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from adapters.platforms.slack import client as slack_client
from adapters.platforms.slack.client import ChannelPacer, RetryAfter, SlackWeb, web_client
from adapters.platforms.slack.errors import SlackUnavailable
from adapters.platforms.slack.replies import SlackReplies
from adapters.platforms.slack.translate import SlackMessage
from domain.conversation import Answer, PostedMessage, Source
from domain.errors import StoreUnavailable
from tests.adapter.fake_slack import FakeSlack
from tests.adapter.slack.harness import BuddyProcess, World, mention
from tests.fakes import InMemoryMessageRefs, ScriptedModel

HELLO = SlackMessage("hello", [{"type": "section", "text": {"type": "mrkdwn", "text": "hello"}}])


class RecordedSleeps:
    """client.py's `asyncio`, with `sleep` recording how long it was asked to wait (and waiting
    not at all): the waits are checked as numbers, not against a busy machine's clock."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.waits.append(round(seconds, 6))
        await asyncio.sleep(0)

    def __getattr__(self, name: str) -> Any:
        return getattr(asyncio, name)


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> RecordedSleeps:
    recorded = RecordedSleeps()
    monkeypatch.setattr(slack_client, "asyncio", recorded)
    return recorded


def replies_on(slack: FakeSlack, **web: float) -> tuple[SlackReplies, InMemoryMessageRefs]:
    replies = SlackReplies(SlackWeb(web_client("xoxb-t", slack.api_url), **web))
    refs = InMemoryMessageRefs()
    replies.use_refs(refs)
    return replies, refs


async def test_the_client_retries_on_429_as_retry_after_says(
    slack: FakeSlack, sleeps: RecordedSleeps
) -> None:
    client = web_client("xoxb-t", slack.api_url)
    assert any(isinstance(h, RetryAfter) for h in client.retry_handlers)
    slack.throttle("chat.postMessage", times=2, retry_after="0.2")
    ts = await SlackWeb(client, post_interval_s=0).post("C1", None, HELLO)
    assert sleeps.waits == [0.2, 0.2]  # what Retry-After said, before each retry
    assert [c.status for c in slack.calls] == [429, 429, 200]
    assert [m["ts"] for m in slack.messages] == [ts]  # posted once


async def test_a_rate_limited_answer_is_posted_once(slack: FakeSlack, world: World) -> None:
    slack.throttle("chat.postMessage", times=1, retry_after="0")
    buddy = await BuddyProcess(world, slack, ScriptedModel(["Run make rollback [1]."])).start()
    try:
        await buddy.event(mention("how?", "1690000000.000100"), "Ev1")
        await buddy.answer_pending()
    finally:
        await buddy.stop()
    attempts = slack.called("chat.postMessage", ok_only=False)
    assert len(attempts) == 2
    assert len(slack.called("chat.postMessage")) == 1
    assert len([m for m in slack.messages if m.get("bot_id")]) == 1
    assert len(world.refs.posted_messages) == 1


async def test_a_reply_slack_keeps_refusing_stays_pending_then_goes_once(
    slack: FakeSlack, world: World
) -> None:
    slack.throttle("chat.postMessage", times=100, retry_after="0")
    buddy = await BuddyProcess(world, slack, ScriptedModel(["ok"])).start()
    try:
        await buddy.event(mention("how?", "1690000000.000100"), "Ev1")
        await buddy.worker.run_once()
        await buddy.worker.drain()
        [job] = await world.outbox.pending()  # failed, to be retried: not lost
        assert job.attempts == 1
        assert slack.called("chat.postMessage") == []

        slack.unthrottle("chat.postMessage")  # Slack is back
        await buddy.answer_pending()
    finally:
        await buddy.stop()
    assert len(slack.called("chat.postMessage")) == 1
    assert await world.outbox.pending() == []


async def test_posts_in_one_channel_are_paced_and_other_channels_do_not_wait(
    sleeps: RecordedSleeps,
) -> None:
    now = [100.0]
    pacer = ChannelPacer(0.05, clock=lambda: now[0])
    for _ in range(3):
        await pacer.wait("C1")  # all at once: each takes the channel's next free slot
    await pacer.wait("C2")
    assert sleeps.waits == [0.05, 0.1]  # C1's 2nd and 3rd; C1's 1st and C2's go at once
    now[0] = 100.5  # C1 is quiet again by then
    await pacer.wait("C1")
    assert sleeps.waits == [0.05, 0.1]


async def test_paced_posts_reach_slack_a_slot_apart(
    slack: FakeSlack, sleeps: RecordedSleeps
) -> None:
    web = SlackWeb(web_client("xoxb-t", slack.api_url), post_interval_s=0.1)
    web._pacer = ChannelPacer(0.1, clock=lambda: 100.0)  # the clock stands still meanwhile
    for _ in range(3):
        await web.post("C1", None, HELLO)
    await web.post("C2", None, HELLO)
    assert sleeps.waits == [0.1, 0.2]
    assert len(slack.called("chat.postMessage")) == 4


async def test_a_long_answer_is_split_into_section_blocks(slack: FakeSlack) -> None:
    replies, _ = replies_on(slack, post_interval_s=0)
    paragraphs = "\n\n".join(f"Paragraph {n}: " + "word " * 150 for n in range(30))
    source = Source(1, "kb/deploy.md", "MIT", (3, 9))
    await replies.send("C1", "1.1", Answer("a1", paragraphs, (source,), "m", 5))
    [post] = slack.called("chat.postMessage")
    texts = [b["text"]["text"] for b in post["blocks"]]
    assert len(texts) > 7
    assert all(0 < len(t) <= 3000 for t in texts)
    assert texts[-1].endswith("[1] kb/deploy.md:3-9 (MIT)")
    assert slack.called("files.getUploadURLExternal") == []


async def test_an_answer_over_40000_characters_goes_out_as_a_file(slack: FakeSlack) -> None:
    replies, _ = replies_on(slack, post_interval_s=0)
    huge = "```python\n" + "print('<!channel>')\n" * 2500 + "```"
    await replies.send("C1", "1.1", Answer("a1", huge, (), "m", 5))
    [post] = slack.called("chat.postMessage")
    assert len(post["text"]) <= 3100
    assert "attached" in post["text"]
    assert post["text"].count("```") % 2 == 0
    [complete] = slack.called("files.completeUploadExternal")
    assert complete["thread_ts"] == "1.1"
    [uploaded] = slack.uploads.values()
    assert uploaded.decode() == huge


async def test_a_failing_web_api_call_is_a_domain_error(slack: FakeSlack) -> None:
    web = SlackWeb(web_client("xoxb-t", slack.api_url), post_interval_s=0)
    with pytest.raises(SlackUnavailable, match=r"chat\.update failed: message_not_found"):
        await web.update("C1", "404.1", HELLO)
    await slack.stop()
    with pytest.raises(SlackUnavailable, match="could not be reached"):
        await web.post("C1", None, HELLO)


async def test_drafts_are_edited_at_most_once_per_interval_and_always_at_the_end(
    slack: FakeSlack,
) -> None:
    now = [0.0]
    replies = SlackReplies(
        SlackWeb(web_client("xoxb-t", slack.api_url), post_interval_s=0),
        edit_interval_s=1.2, clock=lambda: now[0],
    )  # fmt: skip
    replies.use_refs(InMemoryMessageRefs())
    for moment, text in [(0.0, "  "), (0.1, "Run"), (0.5, "Run make"), (1.0, "Run make roll"),
                         (1.4, "Run make rollback"), (2.0, "Run make rollback now")]:  # fmt: skip
        now[0] = moment
        await replies.draft("a1", "C1", "1.1", text)
    now[0] = 2.1
    await replies.send("C1", "1.1", Answer("a1", "Run make rollback now.", (), "m", 5))
    assert [p["text"] for p in slack.called("chat.postMessage")] == ["Run"]
    assert [u["text"] for u in slack.called("chat.update")] == [
        "Run make rollback",  # the first edit 1.2 s after the post; 0.5 and 1.0 were skipped
        "Run make rollback now.",  # the final edit, 0.7 s after the last
    ]


class ForgetfulRefs(InMemoryMessageRefs):
    """The database is away for the first `remember`."""

    def __init__(self) -> None:
        super().__init__()
        self.failures = 1

    async def remember(self, posted: PostedMessage) -> None:
        if self.failures:
            self.failures -= 1
            raise StoreUnavailable("database is restarting")
        await super().remember(posted)


async def test_a_reply_not_remembered_is_edited_not_posted_again(slack: FakeSlack) -> None:
    replies = SlackReplies(SlackWeb(web_client("xoxb-t", slack.api_url), post_interval_s=0),
                           edit_interval_s=0)  # fmt: skip
    refs = ForgetfulRefs()
    replies.use_refs(refs)
    await replies.draft("a1", "C1", "1.1", "Run")  # posted; remembering it failed
    await replies.draft("a1", "C1", "1.1", "Run make")
    await replies.send("C1", "1.1", Answer("a1", "Run make rollback.", (), "m", 5))
    assert len(slack.called("chat.postMessage")) == 1
    assert [u["text"] for u in slack.called("chat.update")] == ["Run make", "Run make rollback."]
    [remembered] = refs.posted_messages
    assert (remembered.message_id, remembered.thread_id) == (slack.messages[0]["ts"], "1.1")
