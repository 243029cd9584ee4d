"""Scheduler job functions hand their work to the domain."""

from adapters.privacy.pseudonyms import HmacPseudonymizer
from adapters.privacy.sealer import AesGcmSealer
from domain.privacy import ScrubResult
from domain.privacy_service import PrivacyService
from scheduler.jobs import retention_job
from tests.fakes import FixedClock, InMemoryEventStore, InMemoryKeyVault


class NoScrub:
    def scrub(self, text: str) -> ScrubResult:
        return ScrubResult(text)


async def test_retention_job_shreds_what_is_past_the_window() -> None:
    clock, keys = FixedClock(), InMemoryKeyVault()
    privacy = PrivacyService(
        InMemoryEventStore(clock), NoScrub(), HmacPseudonymizer(b"x" * 32),
        AesGcmSealer(keys), keys, clock,
    )  # fmt: skip
    old = await privacy.protect("u1", "old")
    clock.advance(days=10)
    new = await privacy.protect("u1", "new")
    assert await retention_job(privacy, retention_days=5) == 1
    assert await privacy.reveal("u1", old.sealed) is None
    assert await privacy.reveal("u1", new.sealed) == "new"
