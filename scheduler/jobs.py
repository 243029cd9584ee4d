"""Job functions the scheduler runs. Each builds its inputs and hands them to the domain."""

from __future__ import annotations

import logging

from domain.privacy_service import PrivacyService

log = logging.getLogger(__name__)


async def retention_job(privacy: PrivacyService, retention_days: int) -> int:
    """Shred the keys of raw interactions older than the retention window."""
    shredded = await privacy.shred_expired(retention_days)
    log.info("retention: shredded %d day keys older than %d days", shredded, retention_days)
    return shredded
