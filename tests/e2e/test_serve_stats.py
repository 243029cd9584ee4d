"""`/buddy stats` in Slack and in Discord, asked by an admin and answered by `buddy serve` itself:
the figures come from the conversation log's projection over the real store, as the operator's
`buddy stats` shows them, and the chart is rendered from them (a 1000x700 PNG)."""

from __future__ import annotations

import aiohttp
import pytest

from tests.adapter.discord import payloads
from tests.adapter.fake_discord import TOKEN as DISCORD_TOKEN
from tests.adapter.fake_discord import running_fake_discord
from tests.adapter.fake_slack import FakeSlack
from tests.adapter.slack.harness import ALICE, mention, reaction
from tests.e2e.serving import serving, slack_command, slack_env, slack_event, wait_for_event

pytestmark = pytest.mark.slow
MODEL = "llamacpp:gemma-3-270m-q4_k_m"


def png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


def assert_one_answer_rated_up(text: str) -> None:
    assert "questions  1 (0 follow-ups)" in text, text
    assert "answers    1" in text, text
    assert "ratings    +1 / -0 (0 by askers)" in text, text
    assert f"{MODEL}: 1 answers, 0 failures, +1 / -0" in text, text


async def test_slack_stats_are_the_stores_figures(
    clean_env: dict[str, str], sqlite_url: str
) -> None:
    fake = await FakeSlack().start()
    env = {**clean_env, **slack_env(fake), "DATABASE_URL": sqlite_url, "BUDDY_SCHEDULER": "0",
           "BUDDY_ADMINS": f"slack:{ALICE}"}  # fmt: skip
    try:
        async with serving(env) as served, aiohttp.ClientSession() as session:
            asked = mention("how do I roll back?", "1700000000.000100")
            assert await slack_event(session, served.base, asked, "Ev1") == 200
            await fake.wait_for(lambda: bool(fake.called("reactions.remove")), 120, "the answer")
            [answer] = [m for m in fake.messages if m.get("bot_id")]
            vote = reaction("+1", answer["channel"], answer["ts"], user="U-bob")
            assert await slack_event(session, served.base, vote, "Ev2") == 200
            await wait_for_event(sqlite_url, "feedback.RatingGiven")
            assert await slack_command(session, served.base, fake, "stats") == "Working on it…"
            await fake.wait_for(lambda: bool(fake.uploaded()), 60, "the stats chart")
    finally:
        await fake.stop()
    [stats] = fake.uploaded()  # the chart, posted where the command was issued, with the text
    assert stats["channel"] == "C1"
    assert png_size(stats["content"]) == (1000, 700)
    assert_one_answer_rated_up(stats["comment"])


async def test_discord_stats_are_the_stores_figures(
    clean_env: dict[str, str], sqlite_url: str
) -> None:
    async with running_fake_discord() as fake:
        env = {**clean_env, "DATABASE_URL": sqlite_url, "BUDDY_SCHEDULER": "0",
               "DISCORD_TOKEN": DISCORD_TOKEN, "DISCORD_API_URL": fake.api_url,
               "BUDDY_ADMINS": f"discord:{payloads.ALICE_ID}"}  # fmt: skip
        async with serving(env):
            question = payloads.message(
                payloads.CHANNEL_ID, payloads.ALICE, f"<@{payloads.BOT_ID}> how do I roll back?"
            )
            await fake.post(question)
            [answer] = await fake.wait_for(
                lambda: [m for m in fake.bot_messages(payloads.CHANNEL_ID)
                         if "won't guess" in m["content"]],
                seconds=120,
            )  # fmt: skip
            # The reply is finished (and its message remembered) once its vote seeds are on it.
            await fake.wait_for(lambda: len(fake.calls("PUT", "/channels/")) >= 2, seconds=60)
            vote = payloads.reaction(answer["id"], payloads.BOB_ID, "👍")
            await fake.gateway.dispatch("MESSAGE_REACTION_ADD", vote)
            await wait_for_event(sqlite_url, "feedback.RatingGiven")
            stats = payloads.slash_command("stats")
            await fake.interact(stats)
            follow_up = f"/webhooks/{payloads.APP_ID}/{stats['token']}"
            [reply, *_] = await fake.wait_for(lambda: fake.calls("POST", follow_up), seconds=60)
    assert reply.body["flags"] & 64  # ephemeral: only the asker sees it
    assert_one_answer_rated_up(reply.body["content"])
    [(name, chart)] = reply.files
    assert name == "buddy-stats.png"
    assert png_size(chart) == (1000, 700)
