"""The milestone job: curate, and when the dataset has reached a milestone no run was started
for, train once, even with several replicas on one database.

Everything happens under a job lock that other replicas fail to take (they skip this round), and
"already done" is read from the events inside it: the training pipeline appends its
`TrainingStarted` (with the milestone) before it trains, and the milestone is done once that run
reached the gate's decision or failed, so whoever takes the lock next sees it. A run killed at
any point (training, evaluating, before the promotion) leaves the milestone due: the next round
resumes that run to its decision. A milestone reached while the bot was down is due at the first
run after the restart.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from domain.milestones import EVENT_TYPES, MilestoneProgress, progress_of
from domain.ports import EventStore, JobLock

log = logging.getLogger(__name__)

LOCK_NAME = "milestone-training"
_PAGE = 1000

Curate = Callable[[], Awaitable[object]]
Train = Callable[[int], Awaitable[object]]


@dataclass(frozen=True)
class MilestoneOutcome:
    """busy: another holder has the lock; idle: nothing due; trained / failed: `train` ran."""

    status: Literal["busy", "idle", "trained", "failed"]
    curated: int = 0
    milestone: int | None = None
    curated_now: bool = False  # whether this round re-ran the curator


async def read_progress(store: EventStore) -> MilestoneProgress:
    """The latest curated size and the milestones done, from the store's events."""
    events, after = [], 0
    while batch := await store.read_all(after, limit=_PAGE, types=list(EVENT_TYPES)):
        events.extend(batch)
        after = batch[-1].position
    return progress_of(events)


async def milestone_job(
    *, store: EventStore, lock: JobLock, curate: Curate, train: Train,
    milestones: Sequence[int], lock_name: str = LOCK_NAME,
) -> MilestoneOutcome:  # fmt: skip
    """One round: under the lock, curate (skipped when nothing happened since the last curation
    and nothing is due), then train for the due milestone, if any. `train(milestone)` runs the
    whole pipeline and appends its `TrainingStarted` with the milestone before it trains."""
    async with lock.hold(lock_name) as held:
        if not held:
            log.debug("milestone job: another replica holds the lock; skipping this round")
            return MilestoneOutcome("busy")
        progress = await read_progress(store)
        changed = await store.last_position() > progress.curated_position
        # Curate when anything happened since the last curation (conversations, ratings,
        # consent), and before any training: it trains on the files the curator writes here.
        curated_now = changed or progress.due(milestones) is not None
        if curated_now:
            await curate()
            progress = await read_progress(store)
        due = progress.due(milestones)
        if due is None:
            return MilestoneOutcome("idle", progress.curated, None, curated_now)
        log.info("milestone %d reached (%d curated examples): training", due, progress.curated)
        try:
            await train(due)
        except Exception:  # logged here; the scheduler keeps going, a started run is not redone
            log.exception("training for milestone %d failed", due)
            return MilestoneOutcome("failed", progress.curated, due, curated_now)
        return MilestoneOutcome("trained", progress.curated, due, curated_now)
