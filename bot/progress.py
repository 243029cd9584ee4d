"""The progress bar on stderr that the CLI and the operations share (stdout stays one JSON
document under `--json`). Where nobody watches a terminal (`buddy serve`'s scheduled syncs,
a pipe), long work is reported in the log instead: a line every LOG_EVERY_S seconds."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

log = logging.getLogger(__name__)
LOG_EVERY_S = 30.0


def progress() -> Any:
    """A progress bar where a person watches stderr; else progress lines in the log."""
    from rich.console import Console
    from rich.progress import Progress

    console = Console(stderr=True)
    if console.is_terminal:
        return Progress(console=console, transient=True)
    return LoggedProgress()


class LoggedProgress:
    """rich.progress.Progress's add_task/advance/update, said in the log: when a task starts, at
    most every `every_s` seconds while it runs, and when it is done."""

    def __init__(
        self, every_s: float = LOG_EVERY_S, timer: Callable[[], float] = time.monotonic
    ) -> None:
        self._every_s, self._timer = every_s, timer
        self._tasks: dict[int, _Task] = {}

    def __enter__(self) -> LoggedProgress:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:  # fmt: skip
        if kind is None:
            for task in self._tasks.values():
                if not task.finished:
                    self._say(task, "done")

    def add_task(self, description: str, total: float | None = None, **_: Any) -> int:
        number = len(self._tasks)
        self._tasks[number] = _Task(description, total, self._timer())
        log.info("%s: started%s", description, f" ({total:g} to do)" if total else "")
        return number

    def advance(self, task_id: int, advance: float = 1) -> None:
        task = self._tasks[task_id]
        task.completed += advance
        self._tick(task)

    def update(self, task_id: int, **changes: Any) -> None:
        task = self._tasks[task_id]
        task.total = changes.get("total", task.total)
        task.completed = changes.get("completed", task.completed)
        task.completed += changes.get("advance", 0)
        task.description = changes.get("description", task.description)
        self._tick(task)

    def _tick(self, task: _Task) -> None:
        if task.total and task.completed >= task.total:
            self._say(task, "done")
        elif self._timer() - task.said_at >= self._every_s:
            self._say(task, "")

    def _say(self, task: _Task, state: str) -> None:
        task.said_at = self._timer()
        task.finished = state == "done"
        if task.total:
            share = f" ({task.completed / task.total:.0%})"
            log.info("%s: %g/%g%s%s", task.description, task.completed, task.total, share,
                     f", {state}" if state else "")  # fmt: skip
        else:
            log.info("%s: %g%s", task.description, task.completed, f", {state}" if state else "")


class _Task:
    def __init__(self, description: str, total: float | None, now: float) -> None:
        self.description, self.total = description, total
        self.completed: float = 0
        self.said_at = now
        self.finished = False
