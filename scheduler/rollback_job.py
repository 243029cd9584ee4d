"""The automatic rollback watch: the scheduler runs it every few minutes in `buddy serve`."""

from __future__ import annotations

import logging

from domain.auto_rollback import AutoRollback

log = logging.getLogger(__name__)


async def rollback_watch(auto_rollback: AutoRollback) -> str | None:
    """Roll back when the served version's live ratings are worse than the previous version's
    by more than the margin; the version served after a rollback, else None."""
    rolled = await auto_rollback()
    if rolled is None:
        log.debug("rollback watch: the served version holds")
        return None
    return str(rolled["to_version"])
