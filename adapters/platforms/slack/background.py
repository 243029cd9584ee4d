"""Work done after Slack has its ack (snippet runs, slash command results): each job logged if
it fails, never raised into a listener, run once per Slack event id, and drained on stop."""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger(__name__)


class BackgroundWork:
    def __init__(self, remember: int = 5_000) -> None:
        self._tasks: set[asyncio.Task[None]] = set()
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._remember = remember

    def start(self, work: Coroutine[Any, Any, None], what: str, *, key: str | None = None) -> bool:
        """Run `work` now in the background; False (and not run) when `key` was already seen:
        Slack redelivers an event it thinks was lost, and a snippet must not run twice."""
        if key is not None:
            if key in self._seen:
                work.close()
                return False
            self._seen[key] = None
            while len(self._seen) > self._remember:
                self._seen.popitem(last=False)
        task = asyncio.create_task(self._logged(work, what))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    async def _logged(self, work: Coroutine[Any, Any, None], what: str) -> None:
        try:
            await work
        except Exception:  # a failed reply is logged; it must not take the service down
            log.exception("Slack: %s failed", what)

    async def drain(self, timeout_s: float) -> None:
        if not self._tasks:
            return
        _, pending = await asyncio.wait(set(self._tasks), timeout=timeout_s)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)
