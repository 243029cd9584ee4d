"""Progress where nobody watches a terminal: said in the log at the start, at most every so
often while the work runs, and at the end (bot/progress.py)."""

from __future__ import annotations

import logging

import pytest

from bot.progress import LoggedProgress, progress


class Ticks:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_progress_is_logged_at_intervals_and_at_the_end(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="bot.progress")
    ticks = Ticks()
    with LoggedProgress(every_s=30, timer=ticks) as bar:
        task = bar.add_task("embedding", total=1000)
        for _ in range(10):
            ticks.now += 10  # 100 chunks every 10 s
            bar.advance(task, 100)
    lines = [record.getMessage() for record in caplog.records]
    assert lines == [
        "embedding: started (1000 to do)",
        "embedding: 300/1000 (30%)",
        "embedding: 600/1000 (60%)",
        "embedding: 900/1000 (90%)",
        "embedding: 1000/1000 (100%), done",
    ]


def test_a_task_without_a_total_and_update_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="bot.progress")
    ticks = Ticks()
    with LoggedProgress(every_s=5, timer=ticks) as bar:
        task = bar.add_task("reading pages")
        ticks.now = 6
        bar.update(task, advance=3)
        bar.update(task, completed=7)
    assert [r.getMessage() for r in caplog.records] == [
        "reading pages: started", "reading pages: 3", "reading pages: 7, done",
    ]  # fmt: skip


def test_outside_a_terminal_progress_goes_to_the_log() -> None:
    assert isinstance(progress(), LoggedProgress)  # pytest captures stderr: no terminal
