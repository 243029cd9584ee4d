"""The scheduler's wiring (APScheduler): a round at start, then on the interval; errors logged
and survived; at stop, rounds in flight finish, or are cancelled once the time is up."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

import pytest

from scheduler.scheduler import ScheduledJob, Scheduler

FAST = timedelta(seconds=0.05)


async def until(condition: Callable[[], object], timeout_s: float = 5.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not condition():  # noqa: ASYNC110 - the counters change in the scheduler's tasks
            await asyncio.sleep(0.01)


async def test_a_job_runs_at_start_then_on_its_interval() -> None:
    runs: list[str] = []

    async def tick() -> None:
        runs.append("tick")

    async def hourly() -> None:
        runs.append("hourly")

    scheduler = Scheduler([
        ScheduledJob("tick", tick, FAST),
        ScheduledJob("hourly", hourly, timedelta(hours=1), at_start=False),
    ])  # fmt: skip
    scheduler.start()
    try:
        assert scheduler.running
        await until(lambda: runs.count("tick") >= 3)
    finally:
        await scheduler.stop()
    assert not scheduler.running
    assert "hourly" not in runs  # not at start, and not due yet
    done = len(runs)
    await asyncio.sleep(0.15)
    assert len(runs) == done  # stopped: no more rounds


async def test_a_failing_job_is_logged_and_runs_again(caplog: pytest.LogCaptureFixture) -> None:
    async def broken() -> None:
        raise RuntimeError("disk full")

    scheduler = Scheduler([ScheduledJob("broken", broken, FAST)])
    scheduler.start()
    try:
        await until(lambda: scheduler.failed["broken"] >= 2)
    finally:
        await scheduler.stop()
    assert "job broken failed" in caplog.text
    assert "disk full" in caplog.text


async def test_rounds_do_not_overlap() -> None:
    running, most = 0, 0

    async def slow() -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.12)
        running -= 1

    scheduler = Scheduler([ScheduledJob("slow", slow, timedelta(seconds=0.02))])
    scheduler.start()
    try:
        await until(lambda: scheduler.finished["slow"] >= 3)
    finally:
        await scheduler.stop()
    assert most == 1


async def test_stop_lets_a_short_round_finish_and_cancels_a_long_one() -> None:
    started, ended = asyncio.Event(), []

    async def short() -> None:
        started.set()
        await asyncio.sleep(0.1)
        ended.append("short")

    async def long() -> None:
        try:
            await asyncio.sleep(60)
        finally:
            ended.append("long")

    scheduler = Scheduler([
        ScheduledJob("short", short, timedelta(hours=1)),
        ScheduledJob("long", long, timedelta(hours=1)),
    ])  # fmt: skip
    scheduler.start()
    await asyncio.wait_for(started.wait(), 5)
    await asyncio.wait_for(scheduler.stop(timeout_s=0.3), 5)
    assert ended == ["short", "long"]  # finished in time; cancelled when the time was up
    assert scheduler.failed == {}
    assert scheduler.finished == {"short": 1, "long": 1}


def test_job_names_are_distinct() -> None:
    async def nothing() -> None:
        return None

    with pytest.raises(ValueError, match="distinct"):
        Scheduler([ScheduledJob("a", nothing, FAST), ScheduledJob("a", nothing, FAST)])
