"""The jobs `buddy serve` runs on a timer: the milestone job (curate; train once a milestone is
reached), retention, the automatic rollback watch, and the sync of registered sources that are
due (each on its own interval, a failing one backed off). Each runs under a job lock, so replicas on
one database take turns instead of doing the work twice."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TYPE_CHECKING

from adapters.store.job_lock import SqlJobLock
from domain.ports import JobLock
from scheduler.jobs import retention_job
from scheduler.milestones import milestone_job
from scheduler.rollback_job import rollback_watch
from scheduler.scheduler import ScheduledJob, Scheduler

if TYPE_CHECKING:
    from bot.bootstrap import Services

log = logging.getLogger(__name__)

RETENTION_EVERY = timedelta(days=1)


def scheduled_jobs(services: Services) -> list[ScheduledJob]:
    settings = services.settings
    lock = SqlJobLock(services.db)

    async def curate() -> None:
        from bot.operations.datasets import curate_dataset

        summary = await curate_dataset(services)
        log.info("curated %d examples (dataset %s)", summary["examples"], summary["dataset_hash"])

    async def train(milestone: int) -> None:
        from bot.operations.training import run_training

        outcome = await run_training(services, milestone=milestone)
        failed = outcome.get("status") == "failed"
        log.log(
            logging.WARNING if failed else logging.INFO, "milestone %d: training %s %s%s",
            milestone, outcome.get("version"), outcome.get("status"),
            ", promoted" if outcome.get("promoted") else "",
        )  # fmt: skip

    async def milestones() -> None:
        outcome = await milestone_job(
            store=services.store, lock=lock, curate=curate, train=train,
            milestones=settings.milestone_counts,
        )  # fmt: skip
        log.debug("milestone job: %s", outcome)

    async def retention() -> None:
        await retention_job(await services.privacy(), settings.retention_days)

    async def sources() -> None:
        from bot.operations.sources import sync_due_sources

        await sync_due_sources(services)

    rollback = rollback_check(services)
    rollback_every = timedelta(minutes=settings.rollback_check_minutes)
    sources_every = timedelta(minutes=settings.source_check_minutes)
    return [
        ScheduledJob("milestones", milestones, timedelta(minutes=settings.milestone_check_minutes)),
        ScheduledJob("retention", _locked(lock, "retention", retention), RETENTION_EVERY),
        ScheduledJob("rollback", _locked(lock, "rollback", rollback), rollback_every),
        ScheduledJob("sources", _locked(lock, "sources", sources), sources_every),
    ]


def rollback_check(services: Services) -> Callable[[], Awaitable[object]]:
    """The automatic rollback watch (scheduler/rollback_job.py) over the served version."""

    async def check() -> object:
        return await rollback_watch(services.auto_rollback())

    return check


def start_scheduler(services: Services) -> Scheduler | None:
    """Started in the running event loop; None when BUDDY_SCHEDULER is off."""
    if not services.settings.scheduler:
        return None
    scheduler = Scheduler(scheduled_jobs(services))
    scheduler.start()
    return scheduler


def _locked(
    lock: JobLock, name: str, run: Callable[[], Awaitable[object]]
) -> Callable[[], Awaitable[None]]:
    async def locked() -> None:
        async with lock.hold(name) as held:
            if held:
                await run()
            else:
                log.debug("job %s: another replica runs it; skipping this round", name)

    return locked
