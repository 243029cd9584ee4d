"""Tasks in flight, ended on stop: each gets until the deadline to finish, then is cancelled.

One way to drain for everything that keeps its own tasks (the platforms' background work, and
the answer worker and the scheduler, which keep theirs)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any


async def drain(
    tasks: Iterable[asyncio.Future[Any]], timeout_s: float, *, grace_s: float | None = None
) -> int:
    """Let `tasks` finish within `timeout_s`, then cancel those still running and give them
    `grace_s` to end (None: until they do; 0: not at all). How many were cancelled."""
    running = set(tasks)
    if not running:
        return 0
    _, pending = await asyncio.wait(running, timeout=timeout_s)
    for task in pending:
        task.cancel()
    if pending and grace_s != 0:
        await asyncio.wait(pending, timeout=grace_s)
    return len(pending)
