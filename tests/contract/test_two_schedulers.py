"""Two replicas on one database (two Database objects, each with its own scheduler) run a
milestone's training once; a milestone reached while the bot was down runs once after restart.
On SQLite and the embedded PostgreSQL alike."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import timedelta

import pytest

from adapters.store.database import Database, create_database
from adapters.store.event_store import SqlEventStore
from adapters.store.job_lock import SqlJobLock
from domain.events import NewEvent
from scheduler.milestones import MilestoneOutcome, milestone_job
from scheduler.scheduler import ScheduledJob, Scheduler

MILESTONES = (100, 500, 1_000)


@dataclass
class World:
    """What every replica sees: the dataset size the curator would find, the runs started."""

    examples: int = 0
    trained: list[tuple[str, int]] = field(default_factory=list)


@dataclass
class Replica:
    name: str
    db: Database
    world: World

    def __post_init__(self) -> None:
        self.store = SqlEventStore(self.db)
        self.lock = SqlJobLock(self.db)

    async def curate(self) -> None:
        payload = {"examples": self.world.examples, "dataset_hash": f"h{self.world.examples}"}
        await self.store.append(
            f"dataset-{self.world.examples}", None, [NewEvent("training.DatasetCurated", payload)]
        )

    async def train(self, milestone: int) -> None:
        """The pipeline's first step: TrainingStarted with the milestone; then it trains."""
        version = f"v{len(self.world.trained) + 1}"
        self.world.trained.append((self.name, milestone))
        payload = {"version": version, "milestone": milestone, "resumed_from_step": None}
        await self.store.append(
            f"model-{version}", -1, [NewEvent("training.TrainingStarted", payload)]
        )
        await asyncio.sleep(0.2)
        finished = NewEvent("training.TrainingFinished", {"version": version})
        # The gate's decision ends the run (a refusal here): then the milestone is done.
        refused = NewEvent("training.ModelEvaluated", {"version": version, "passed": False})
        await self.store.append(f"model-{version}", 0, [finished, refused])

    async def round(self) -> MilestoneOutcome:
        return await milestone_job(
            store=self.store, lock=self.lock, curate=self.curate, train=self.train,
            milestones=MILESTONES,
        )  # fmt: skip

    def scheduler(self, every: timedelta) -> Scheduler:
        return Scheduler([ScheduledJob("milestones", self.round, every)])


@pytest.fixture
async def databases(database_url: str, db: Database) -> AsyncIterator[list[Database]]:
    """The migrated `db` and a second engine on the same database."""
    other = create_database(database_url)
    yield [db, other]
    await other.dispose()


async def ask_something(replica: Replica) -> None:
    asked = {"answer_id": replica.name, "user": "u", "channel": "c", "thread": "t", "text": "?"}
    event = NewEvent("conversation.QuestionAsked", asked)
    await replica.store.append(f"q-{replica.name}", None, [event])


async def until(condition: Callable[[], object], timeout_s: float = 10.0) -> None:
    """Poll: the schedulers' round counters change in their own tasks."""
    async with asyncio.timeout(timeout_s):
        while not condition():  # noqa: ASYNC110 - no event to wait on from outside
            await asyncio.sleep(0.02)


async def test_racing_rounds_of_two_replicas_train_once(databases: list[Database]) -> None:
    world = World(examples=130)
    a, b = (Replica(name, db, world) for name, db in zip("ab", databases, strict=True))
    await ask_something(a)
    outcomes = await asyncio.gather(*(replica.round() for replica in (a, b, a, b, a, b)))
    assert [milestone for _, milestone in world.trained] == [100]
    statuses = sorted(outcome.status for outcome in outcomes)
    assert statuses.count("trained") == 1
    assert set(statuses) <= {"trained", "busy", "idle"}
    # Later rounds, one after the other: "already started" is read under the lock.
    for replica in (b, a, b):
        assert (await replica.round()).status == "idle"
    assert len(world.trained) == 1


async def test_two_running_schedulers_train_a_milestone_once(databases: list[Database]) -> None:
    world = World(examples=40)
    replicas = [Replica(name, db, world) for name, db in zip("ab", databases, strict=True)]
    await ask_something(replicas[0])
    schedulers = [replica.scheduler(timedelta(seconds=0.05)) for replica in replicas]
    for scheduler in schedulers:
        scheduler.start()
    try:
        await until(lambda: all(s.finished["milestones"] >= 2 for s in schedulers))
        assert world.trained == []  # 40 examples: nothing due yet
        world.examples = 520  # past 100 and 500 between two rounds: one run, for 500
        await ask_something(replicas[1])
        await until(lambda: world.trained)
        rounds = [s.finished["milestones"] for s in schedulers]
        await until(lambda: all(s.finished["milestones"] >= n + 3 for s, n in zip(
            schedulers, rounds, strict=True)))  # fmt: skip
    finally:
        for scheduler in schedulers:
            await scheduler.stop()
    assert [milestone for _, milestone in world.trained] == [500]
    assert all(s.failed["milestones"] == 0 for s in schedulers)


async def test_a_milestone_reached_while_down_runs_once_after_restart(
    database_url: str, databases: list[Database]
) -> None:
    world = World(examples=90)
    before = Replica("before", databases[0], world)
    await ask_something(before)
    scheduler = before.scheduler(timedelta(hours=1))
    scheduler.start()
    await until(lambda: scheduler.finished["milestones"] == 1)
    await scheduler.stop()
    assert world.trained == []
    # While the bot is down, people keep asking (say, through the CLI): 100 and 500 pass.
    world.examples = 640
    await ask_something(before)
    # Both replicas restart, with fresh engines; only the round at start runs (every hour).
    restarted = [create_database(database_url) for _ in range(2)]
    try:
        replicas = [Replica(f"r{i}", db, world) for i, db in enumerate(restarted)]
        schedulers = [replica.scheduler(timedelta(hours=1)) for replica in replicas]
        for each in schedulers:
            each.start()
        await until(lambda: all(s.finished["milestones"] == 1 for s in schedulers))
        for each in schedulers:
            await each.stop()
        assert [milestone for _, milestone in world.trained] == [500]
        # And once more after another restart: nothing left to do.
        again = replicas[0].scheduler(timedelta(hours=1))
        again.start()
        await until(lambda: again.finished["milestones"] == 1)
        await again.stop()
        assert len(world.trained) == 1
    finally:
        for db in restarted:
            await db.dispose()


async def test_stopping_cancels_a_training_in_flight_and_frees_the_lock(
    databases: list[Database],
) -> None:
    world = World(examples=100)
    a, b = (Replica(name, db, world) for name, db in zip("ab", databases, strict=True))
    await ask_something(a)
    inside = asyncio.Event()

    async def slow_train(milestone: int) -> None:
        inside.set()
        await asyncio.sleep(60)

    a.train = slow_train  # type: ignore[method-assign]
    scheduler = a.scheduler(timedelta(hours=1))
    scheduler.start()
    await asyncio.wait_for(inside.wait(), 10)
    assert (await b.round()).status == "busy"
    await asyncio.wait_for(scheduler.stop(timeout_s=0.2), 5)  # a training does not finish
    assert not scheduler.running
    assert (await b.round()).status == "trained"  # no TrainingStarted was appended by a
