"""The answer worker: platforms accept a question (stored with an outbox job) and ack at once;
this worker finishes each job: answer, reply, mark sent. Jobs left by a crash are picked up on
start, so an accepted question is never lost."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from adapters.tasks import drain
from bot.logs import correlation_id
from domain.ports import Outbox, PendingMessage

log = logging.getLogger(__name__)


class Resumable(Protocol):
    async def resume(self, job: dict[str, Any]) -> Any: ...


class AnswerWorker:
    def __init__(
        self, outbox: Outbox, answerers: Mapping[str, Resumable], *, poll_s: float = 2.0,
        max_attempts: int = 5, concurrency: int = 4,
        started: Callable[[str, str], None] | None = None,
    ) -> None:  # fmt: skip
        """`started(answer_id, destination)` is told of each job as it starts (metrics)."""
        self._started = started
        self._outbox = outbox
        self._answerers = answerers
        self._poll_s = poll_s
        self._max_attempts = max_attempts
        self._slots = asyncio.Semaphore(concurrency)
        self._wake = asyncio.Event()
        self._in_flight: dict[int, asyncio.Task[None]] = {}
        self._stopping = False

    def wake(self) -> None:
        """A job was just accepted: look now instead of at the next poll."""
        self._wake.set()

    async def run(self) -> None:
        while not self._stopping:
            await self.run_once()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll_s)
            self._wake.clear()

    async def run_once(self) -> int:
        """Start every pending job that is not already running; how many were started."""
        started = 0
        for job in await self._outbox.pending():
            if job.id in self._in_flight or job.destination not in self._answerers:
                continue
            if job.attempts >= self._max_attempts:
                continue  # given up on: `buddy events` and the log show why
            task = asyncio.create_task(self._process(job))
            self._in_flight[job.id] = task
            task.add_done_callback(functools.partial(self._forget, job.id))
            started += 1
        return started

    def _forget(self, job_id: int, _task: asyncio.Task[None]) -> None:
        self._in_flight.pop(job_id, None)

    async def _process(self, job: PendingMessage) -> None:
        async with self._slots:
            try:
                async with self._outbox.claim(job.id) as mine:
                    if mine:  # else another replica delivers it, or already has
                        await self._deliver(job)
            except Exception:  # the claim itself failed (the store): the next poll tries again
                log.warning("answer job %s: could not be claimed", job.id, exc_info=True)

    async def _deliver(self, job: PendingMessage) -> None:
        answer_id = str(job.payload.get("answer_id", job.id))
        correlation_id.set(answer_id)  # this task's log lines, up to the reply
        if self._started is not None:
            self._started(answer_id, job.destination)
        try:
            await self._answerers[job.destination].resume(dict(job.payload))
        except Exception:  # the job stays pending and is retried at the next poll
            log.exception("answer job %s for %s failed", job.id, job.destination)
            await self._outbox.mark_failed(job.id)
            return
        await self._outbox.mark_sent(job.id)

    async def drain(self, timeout_s: float = 30.0) -> int:
        """Stop taking jobs and let the running ones finish; how many were still running when
        the time was up (they resume on the next start)."""
        self._stopping = True
        self._wake.set()
        return await drain(self._in_flight.values(), timeout_s, grace_s=0)
