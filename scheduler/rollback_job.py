"""The automatic rollback watch: the scheduler runs it every few minutes in `buddy serve`."""

from __future__ import annotations

import logging
from typing import Any, Protocol

from domain.auto_rollback import AutoRollback

log = logging.getLogger(__name__)


class _ProvidesAutoRollback(Protocol):
    def auto_rollback(self) -> AutoRollback: ...


async def rollback_watch(auto_rollback: AutoRollback | _ProvidesAutoRollback) -> str | None:
    """Roll back when the served version's live ratings are worse than the previous version's
    by more than the margin; the version served after a rollback, else None. Takes the use case,
    or anything that builds one (`Services.auto_rollback()`)."""
    check: Any = auto_rollback
    if not isinstance(auto_rollback, AutoRollback) and hasattr(auto_rollback, "auto_rollback"):
        check = auto_rollback.auto_rollback()
    rolled = await check()
    if rolled is None:
        log.debug("rollback watch: the served version holds")
        return None
    return str(rolled["to_version"])
