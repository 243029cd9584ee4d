"""Scale-out: two `buddy serve` replicas, each with its own data dir, on ONE embedded PostgreSQL,
both in Slack's HTTP mode with the same signing secret, behind a round-robin "load balancer"
(the test). First one question for each replica alone; then 40 events, each on one replica and
Slack's retry of it on the other, all at once. Both replicas run the scheduler (every 0.6 s).
The scenario runs once (about 25 s on 2 idle cores), then each test checks one promise of the
README's "Running several replicas"; the one the outbox cannot keep yet is an expected failure.

Which replica called Slack is told by its bot token: each replica gets its own (the fake accepts
any), the only thing besides its data dir that differs between them."""

from __future__ import annotations

import asyncio
import os
import re
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp
import psycopg
import pytest

from adapters.store.embedded_postgres import EmbeddedPostgres
from domain.event_types import ConversationEvents, TrainingEvents
from tests.adapter.fake_slack import FakeSlack
from tests.adapter.slack.harness import mention
from tests.e2e.serving import Served, serving, slack_env, slack_event, stored_events

pytestmark = pytest.mark.slow

QUESTIONS = 40
NAMES = ("a", "b")
TOKENS = {f"xoxb-replica-{name}": name for name in NAMES}
PEPPER = "replicas-share-this-pepper-0123456789abcdef"  # BUDDY_PEPPER: the same on every replica
ROUND = re.compile(r"milestone job: MilestoneOutcome\(status='(\w+)'.*curated_now=(\w+)")
# Each question from its own user in its own channel: the rate limits (per user, per channel and
# per replica, BUDDY_RATE_*) stay on at their defaults and refuse none of them.
EVENTS = [(mention(f"question {n}?", f"1690000{n:03d}.000100", channel=f"C{n}",
                   user=f"U-asker-{n}"), f"Ev{n:08d}")
          for n in range(QUESTIONS)]  # fmt: skip
# One question for each replica alone, before the storm: the one that takes it is woken at once,
# the other polls every 2 s, so each replica's worker sends at least this reply.
FIRST = [(mention(f"first for {name}?", f"1680000{n:03d}.000100", channel=f"CF{n}",
                  user=f"U-first-{name}"), f"EvF{n:07d}")
         for n, name in enumerate(NAMES)]  # fmt: skip
ASKED = {(event["channel"], event["ts"]) for event, _ in FIRST + EVENTS}


@dataclass
class Outcome:
    statuses: list[int]
    calls: list[tuple[str, str, dict[str, Any]]]  # (replica, Slack method, arguments)
    stored: list[str]  # event types in store order
    logs: dict[str, str]  # replica -> everything it logged (BUDDY_LOG_LEVEL=DEBUG)
    reactions: set[tuple[str, str, str]]  # still on a message at the end: (channel, ts, name)

    def called(self, method: str) -> list[tuple[str, dict[str, Any]]]:
        return [(replica, args) for replica, name, args in self.calls if name == method]


def replica_env(
    base: dict[str, str], fake: FakeSlack, url: str, data: Path, token: str
) -> dict[str, str]:
    return {
        **base, **slack_env(fake), "SLACK_BOT_TOKEN": token, "DATABASE_URL": url,
        "BUDDY_DATA_DIR": str(data), "BUDDY_PEPPER": PEPPER, "BUDDY_LOG_LEVEL": "DEBUG",
        "BUDDY_SCHEDULER": "1", "BUDDY_MILESTONE_CHECK_MINUTES": "0.01",
        "BUDDY_ROLLBACK_CHECK_MINUTES": "0.01",
    }  # fmt: skip


async def curated_the_latest(url: str) -> bool:
    """Whether the store's last event is a DatasetCurated: a round curated all there is."""
    events = await stored_events(url)
    return bool(events) and events[-1].type == TrainingEvents.DATASET_CURATED


def unwatched(fake: FakeSlack) -> set[tuple[str, str]]:
    """The questions 👀 came off: their replies were sent."""
    return {(args["channel"], args["timestamp"]) for args in fake.called("reactions.remove")}


async def answered(fake: FakeSlack, question: dict[str, Any]) -> bool:
    return (question["channel"], question["ts"]) in unwatched(fake)


async def no_pending(replica: Served) -> bool:
    return not (await replica.health())["pending_replies"]


async def until(check: Callable[[], Awaitable[bool]], seconds: float) -> None:
    async with asyncio.timeout(seconds):
        while True:
            if await check():
                return
            await asyncio.sleep(0.2)


async def run_two_replicas(base: dict[str, str], url: str, root: Path) -> Outcome:
    fake = await FakeSlack().start()
    replicas: list[Served] = []
    try:
        async with AsyncExitStack() as stack:
            # One after the other: two first starts at once on a fresh database race to store
            # the pepper's fingerprint, and the loser exits (see the README).
            for token, name in TOKENS.items():
                env = replica_env(base, fake, url, root / f"replica-{name}", token)
                replicas.append(await stack.enter_async_context(serving(env)))
            session = await stack.enter_async_context(
                aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
            )
            for replica, (event, event_id) in zip(replicas, FIRST, strict=True):
                assert await slack_event(session, replica.base, event, event_id) == 200
                # The first answer loads the embedder (about 15 s on 2 busy cores; both replicas
                # load it, as both workers take the job): generous for a shared machine.
                await until(partial(answered, fake, event), 180)
            # The load balancer: event n goes to replica n % 2, Slack's retry of it to the other.
            statuses = await asyncio.gather(*(
                slack_event(session, replicas[(n + attempt) % 2].base, event, event_id,
                            retry=attempt)
                for n, (event, event_id) in enumerate(EVENTS) for attempt in (0, 1)
            ))  # fmt: skip
            await fake.wait_for(lambda: unwatched(fake) >= ASKED, 120, "every answer")
            for replica in replicas:  # nothing left for either worker to send
                await until(partial(no_pending, replica), 30)
            await until(lambda: curated_the_latest(url), 60)  # a round curated the final store
            await asyncio.sleep(1.5)  # a few more rounds each: the same store is not curated again
        # Both were sent SIGTERM here, and `serving` asserted that each exited 0.
    except BaseException as error:  # the whole logs, for a failure the notes' tails do not show
        for name, replica in zip(NAMES, replicas, strict=False):
            (root / f"replica-{name}.log").write_text(replica.log(10**9))
            error.add_note(f"replica {name} logged everything into {root}/replica-{name}.log")
        raise
    finally:
        await fake.stop()
    return Outcome(
        statuses,
        [(TOKENS[c.token or ""], c.method, c.args) for c in fake.calls if c.status == 200],
        [event.type for event in await stored_events(url)],
        {name: replica.log(10**9) for name, replica in zip(NAMES, replicas, strict=True)},
        set(fake.reactions),
    )


@pytest.fixture(scope="module")
def outcome(embedded_pg: EmbeddedPostgres, tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    """The scenario, once for the module, on a fresh database of the session's server."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    admin = f"postgresql://postgres@/postgres?host={embedded_pg.socket_dir}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    url = f"postgresql+psycopg://postgres@/{name}?host={embedded_pg.socket_dir}"
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("BUDDY_", "DATABASE_URL"))}  # fmt: skip
    try:
        return asyncio.run(run_two_replicas(base, url, tmp_path_factory.mktemp("scale-out")))
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_each_event_is_one_question_whichever_replica_takes_it_or_its_retry(
    outcome: Outcome,
) -> None:
    assert outcome.statuses == [200] * (2 * QUESTIONS)  # both replicas ack every delivery
    assert Counter(outcome.stored)[ConversationEvents.QUESTION_ASKED] == len(ASKED)
    # 👀 goes on from each replica that took a delivery (Slack answers the second with
    # already_reacted) and is off every question at the end.
    eyes = Counter(
        (args["channel"], args["timestamp"]) for _, args in outcome.called("reactions.add")
    )
    assert set(eyes) == ASKED
    assert max(eyes.values()) <= 2
    assert outcome.reactions == set()
    refused = [a for _, a in outcome.called("chat.postMessage") if "try again" in a.get("text", "")]
    assert refused == []  # no delivery was refused by a rate limit


def test_every_question_gets_a_reply_and_both_replicas_send_replies(outcome: Outcome) -> None:
    posts = outcome.called("chat.postMessage")
    assert {(args["channel"], args["thread_ts"]) for _, args in posts} == ASKED
    # A reply is posted, or a post another replica made for it is found and edited.
    replies = Counter(replica for replica, _ in posts + outcome.called("chat.update"))
    assert set(replies) == set(NAMES), replies


def test_each_question_is_answered_and_posted_once_across_replicas(outcome: Outcome) -> None:
    assert Counter(outcome.stored)[ConversationEvents.ANSWER_GIVEN] == len(ASKED)
    posts = Counter((args["channel"], args["thread_ts"])
                    for _, args in outcome.called("chat.postMessage"))  # fmt: skip
    assert [thread for thread, count in posts.items() if count > 1] == []


def test_scheduled_jobs_have_one_leader_per_round(outcome: Outcome) -> None:
    """A milestone round that finds the store changed curates it (a DatasetCurated). Under the
    job lock, a round on one replica turns the other's away ('busy'), so the same store is never
    curated twice: no two DatasetCurated follow each other."""
    curations = [i for i, kind in enumerate(outcome.stored)
                 if kind == TrainingEvents.DATASET_CURATED]  # fmt: skip
    assert curations, "no scheduler round curated anything"
    assert [i for i in curations if i - 1 in curations] == [], outcome.stored
    rounds = {name: Counter(ROUND.findall(log)) for name, log in outcome.logs.items()}
    assert all(sum(counts.values()) >= 2 for counts in rounds.values()), rounds  # both ran
    assert sum(counts[("busy", "False")] for counts in rounds.values()) >= 1, rounds
    curated = sum(count for counts in rounds.values()
                  for (status, now), count in counts.items() if now == "True")  # fmt: skip
    assert curated == len(curations), rounds  # every curation is one logged round's


def test_both_replicas_stop_cleanly_on_sigterm(outcome: Outcome) -> None:
    """`serving` already asserted that each exited 0 (or every test here errors)."""
    assert all("stopping" in log for log in outcome.logs.values())
