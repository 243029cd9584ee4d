"""APScheduler wiring: the jobs `buddy serve` runs on a timer, in its own event loop.

The composition root hands in the job callables (scheduler/ never imports bot/). Each job runs
once right at start, so a round missed while the bot was down happens after the restart, then
every `every`; rounds that fall due while one still runs are merged into one (coalesce, one
instance at a time). A job's error is logged and the next round runs as planned.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from adapters.tasks import drain

log = logging.getLogger(__name__)

STOP_TIMEOUT_S = 10.0  # rounds in flight at stop get this long to finish
CANCEL_GRACE_S = 5.0  # and this long to unwind once cancelled


@dataclass(frozen=True)
class ScheduledJob:
    name: str
    run: Callable[[], Awaitable[object]]
    every: timedelta
    at_start: bool = True  # first run right at start (a missed run is not lost to a restart)


class Scheduler:
    """Start inside the running event loop; `stop` lets rounds in flight finish (for a while)."""

    def __init__(self, jobs: Sequence[ScheduledJob]) -> None:
        names = [job.name for job in jobs]
        if len(set(names)) != len(names):
            raise ValueError(f"job names must be distinct: {names}")
        self._jobs = list(jobs)
        self._scheduler: AsyncIOScheduler | None = None
        self._in_flight: set[asyncio.Task[Any]] = set()
        self.finished: Counter[str] = Counter()  # rounds run to the end (or to an error), by job
        self.failed: Counter[str] = Counter()

    @property
    def running(self) -> bool:
        return self._scheduler is not None and self._scheduler.running

    @property
    def job_names(self) -> list[str]:
        return [job.name for job in self._jobs]

    def start(self) -> None:
        if self.running:
            return
        scheduler = AsyncIOScheduler(event_loop=asyncio.get_running_loop(), timezone=UTC)
        now = datetime.now(UTC)
        for job in self._jobs:
            options: dict[str, Any] = {"next_run_time": now} if job.at_start else {}
            scheduler.add_job(
                self._round(job), IntervalTrigger(seconds=job.every.total_seconds(), timezone=UTC),
                id=job.name, name=job.name, coalesce=True, max_instances=1,
                misfire_grace_time=None, **options,
            )  # fmt: skip
        scheduler.start()
        self._scheduler = scheduler
        log.info("scheduler started: %s", ", ".join(self.job_names) or "no jobs")

    async def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """No new rounds; rounds in flight get `timeout_s` to finish, then are cancelled.

        Finishing beats cancelling: a round cancelled in the middle of a database call can
        leave a connection (and, on SQLite, its non-daemon thread) behind."""
        scheduler, self._scheduler = self._scheduler, None
        if scheduler is not None and scheduler.running:
            scheduler.shutdown(wait=False)
        cancelled = await drain(set(self._in_flight), timeout_s, grace_s=CANCEL_GRACE_S)
        if cancelled:
            log.warning("cancelled %d scheduled jobs still running at stop", cancelled)

    def _round(self, job: ScheduledJob) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            # The body runs in a task of its own: APScheduler cancels its rounds when shut
            # down, and `stop` decides instead whether a round finishes or is cancelled.
            body = asyncio.ensure_future(self._body(job))
            self._in_flight.add(body)
            body.add_done_callback(self._in_flight.discard)
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(body)

        return run

    async def _body(self, job: ScheduledJob) -> None:
        try:
            await job.run()
        except asyncio.CancelledError:
            log.info("job %s cancelled (scheduler stopping)", job.name)
        except Exception:
            self.failed[job.name] += 1
            log.exception("job %s failed; it runs again in %s", job.name, job.every)
        finally:
            self.finished[job.name] += 1
