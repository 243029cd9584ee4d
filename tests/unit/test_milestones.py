"""Which milestone is due: pure rules, the fold over events, and the job over an in-memory store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from domain.events import NewEvent
from domain.milestones import (
    DEFAULT_MILESTONES,
    due_milestone,
    next_milestone,
    parse_milestones,
    progress_of,
)
from scheduler.milestones import milestone_job, read_progress
from tests.fakes import InMemoryEventStore

M = (100, 500, 1_000)
ASKED = {"answer_id": "a", "user": "u", "channel": "c", "thread": "t", "text": "?"}


def test_nothing_is_due_below_the_first_milestone() -> None:
    assert due_milestone(0, [], M) is None
    assert due_milestone(99, [], M) is None


def test_a_reached_milestone_is_due_until_a_run_is_started_for_it() -> None:
    assert due_milestone(100, [], M) == 100
    assert due_milestone(499, [], M) == 100
    assert due_milestone(499, [100], M) is None
    assert due_milestone(500, [100], M) == 500


def test_reaching_several_at_once_trains_once_for_the_highest() -> None:
    assert due_milestone(1_200, [], M) == 1_000
    assert due_milestone(1_200, [1_000], M) is None
    # A lower milestone never started is not made up for once a higher one ran.
    assert due_milestone(1_200, [500], M) == 1_000


def test_a_run_missed_while_down_is_due_once_after_restart() -> None:
    # The count crossed 500 while nothing checked; the first check after restart finds it.
    assert due_milestone(620, [100], M) == 500
    assert due_milestone(620, [100, 500], M) is None


def test_a_shrunken_dataset_or_a_higher_run_means_nothing_is_due() -> None:
    assert due_milestone(450, [500], M) is None  # erasures took it back below a trained one


def test_next_milestone_is_the_progress_target() -> None:
    assert next_milestone(0, M) == 100
    assert next_milestone(100, M) == 500
    assert next_milestone(1_000, M) is None
    assert next_milestone(7, (50, 10)) == 10


def test_milestones_parse_from_the_setting() -> None:
    assert parse_milestones("100,500,1000,5000,10000,25000,50000") == DEFAULT_MILESTONES
    assert parse_milestones(" 500, 100 ,100,") == (100, 500)
    for bad in ("", "ten", "0,100", "-5", "1.5"):
        with pytest.raises(ValueError, match="milestones"):
            parse_milestones(bad)


def curated(examples: int) -> NewEvent:
    return NewEvent("training.DatasetCurated", {"examples": examples, "dataset_hash": "h"})


def started(milestone: int | None, version: str = "v1") -> NewEvent:
    payload = {"version": version, "milestone": milestone, "resumed_from_step": None}
    return NewEvent("training.TrainingStarted", payload)


def finished(version: str = "v1") -> NewEvent:
    return NewEvent("training.TrainingFinished", {"version": version})


def evaluated(passed: bool, version: str = "v1") -> NewEvent:
    return NewEvent("training.ModelEvaluated", {"version": version, "passed": passed})


def promoted(version: str = "v1") -> NewEvent:
    return NewEvent("training.ModelPromoted", {"version": version, "previous": "base"})


def decided(version: str = "v1") -> list[NewEvent]:
    """A run to its end: trained, evaluated, refused by the gate."""
    return [finished(version), evaluated(False, version)]


async def test_progress_folds_the_latest_curation_and_the_started_milestones() -> None:
    store = InMemoryEventStore()
    await store.append("dataset-a", None, [curated(120)])
    await store.append("model-v1", None, [started(100), *decided()])
    await store.append("model-v2", None, [started(None, "v2")])  # a manual `buddy train`
    await store.append("model-v3", None, [started(500, "v3")])  # killed midway: no end
    await store.append("dataset-b", None, [curated(80)])
    progress = await read_progress(store)
    assert (progress.curated, progress.curated_position) == (80, 7)
    assert progress.done == frozenset({100})  # 500 is due again, to resume
    assert progress_of([]).due(M) is None


async def test_a_milestone_is_done_only_once_its_run_reached_the_gates_decision() -> None:
    store = InMemoryEventStore()
    await store.append("dataset-a", None, [curated(120)])
    # Killed while evaluated: trained, never decided on. Due again, so the run is resumed.
    await store.append("model-v1", None, [started(100), finished()])
    assert (await read_progress(store)).due(M) == 100
    # Killed after the gate passed, before the promotion: still due.
    await store.append("model-v1", None, [evaluated(True)])
    assert (await read_progress(store)).due(M) == 100
    await store.append("model-registry", None, [promoted()])
    assert (await read_progress(store)).due(M) is None
    # Refused by the gate, or failed: decided too.
    await store.append("model-v2", None, [started(500, "v2"), finished("v2")])
    await store.append("dataset-b", None, [curated(520)])
    assert (await read_progress(store)).due(M) == 500
    await store.append("model-v2", None, [evaluated(False, "v2")])
    assert (await read_progress(store)).done == frozenset({100, 500})
    failed = NewEvent("training.TrainingFailed", {"version": "v3", "error": "NaN loss"})
    await store.append("model-v3", None, [started(1_000, "v3"), failed])
    await store.append("dataset-c", None, [curated(1_000)])
    assert (await read_progress(store)).due(M) is None


class OneHolder:
    """The JobLock port in one process: a second holder is refused."""

    def __init__(self) -> None:
        self.held = False

    @asynccontextmanager
    async def hold(self, name: str) -> AsyncIterator[bool]:
        if self.held:
            yield False
            return
        self.held = True
        try:
            yield True
        finally:
            self.held = False


async def test_the_job_curates_only_when_something_changed_and_trains_once() -> None:
    store, lock = InMemoryEventStore(), OneHolder()
    curations: list[int] = []
    size = {"examples": 40}
    trained: list[int] = []

    async def curate() -> None:
        curations.append(size["examples"])
        await store.append(f"dataset-{len(curations)}", None, [curated(size["examples"])])

    async def train(milestone: int) -> None:
        trained.append(milestone)
        version = f"v{len(trained)}"
        await store.append(
            f"model-{version}", None, [started(milestone, version), *decided(version)]
        )

    async def run() -> str:
        outcome = await milestone_job(
            store=store, lock=lock, curate=curate, train=train, milestones=M
        )
        return outcome.status

    assert await run() == "idle"
    assert curations == []  # an empty store: nothing to curate
    await store.append("q-1", None, [NewEvent("conversation.QuestionAsked", ASKED)])
    assert await run() == "idle"
    assert await run() == "idle"
    assert curations == [40]  # the second round found nothing new
    size["examples"] = 130
    await store.append("q-2", None, [NewEvent("conversation.QuestionAsked", ASKED)])
    assert await run() == "trained"
    assert trained == [100]
    assert await run() == "idle"  # the run's own TrainingStarted made it curate once more
    assert await run() == "idle"
    assert trained == [100]
    assert curations == [40, 130, 130]
    lock.held = True
    assert await run() == "busy"


async def test_a_failing_training_is_reported_and_not_raised() -> None:
    store = InMemoryEventStore()
    await store.append("dataset-x", None, [curated(100)])

    async def curate() -> None:
        await store.append("dataset-y", None, [curated(100)])

    async def train(milestone: int) -> None:
        raise RuntimeError("out of memory")

    outcome = await milestone_job(
        store=store, lock=OneHolder(), curate=curate, train=train, milestones=M
    )
    assert (outcome.status, outcome.milestone, outcome.curated_now) == ("failed", 100, True)
