"""Privacy use cases over fakes of the store and key vault, with the real HMAC and AES-GCM."""

from __future__ import annotations

import pytest

from adapters.privacy.pseudonyms import HmacPseudonymizer
from adapters.privacy.sealer import AesGcmSealer
from domain.errors import InvalidEvent
from domain.privacy import Finding, ScrubResult
from domain.privacy_service import MAX_TEXT, Person, PrivacyService
from tests.fakes import FixedClock, InMemoryEventStore, InMemoryKeyVault

ALICE = Person("slack", "T1", "U_ALICE")
BOB = Person("slack", "T1", "U_BOB")


class MaskSecretWord:
    """A stand-in scrubber: the real one has its own tests."""

    def scrub(self, text: str) -> ScrubResult:
        start = text.find("hunter2")
        if start < 0:
            return ScrubResult(text)
        return ScrubResult(
            text.replace("hunter2", "<SECRET>"), (Finding("SECRET", start, start + 7),)
        )


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def store(clock: FixedClock) -> InMemoryEventStore:
    return InMemoryEventStore(clock)


@pytest.fixture
def keys() -> InMemoryKeyVault:
    return InMemoryKeyVault()


@pytest.fixture
def privacy(store: InMemoryEventStore, keys: InMemoryKeyVault, clock: FixedClock) -> PrivacyService:
    return PrivacyService(
        store, MaskSecretWord(), HmacPseudonymizer(b"p" * 32), AesGcmSealer(keys), keys, clock
    )


def test_pseudonyms_are_stable_distinct_and_hide_the_raw_id(privacy: PrivacyService) -> None:
    alice = privacy.pseudonym(ALICE)
    assert alice == privacy.pseudonym(Person("slack", "T1", "U_ALICE"))
    assert alice != privacy.pseudonym(BOB)
    assert alice != privacy.pseudonym(Person("discord", "T1", "U_ALICE"))
    assert alice != privacy.pseudonym(Person("slack", "T2", "U_ALICE"))
    assert "U_ALICE" not in alice
    assert len(alice) == 64
    other_pepper = HmacPseudonymizer(b"q" * 32).user("slack", "T1", "U_ALICE")
    assert other_pepper != alice


async def test_text_is_scrubbed_then_sealed(privacy: PrivacyService) -> None:
    alice = privacy.pseudonym(ALICE)
    protected = await privacy.protect(alice, "my password is hunter2, help")
    assert "hunter2" not in protected.sealed
    assert "password" not in protected.sealed  # encrypted, not just scrubbed
    assert protected.redactions == ("SECRET",)
    assert await privacy.reveal(alice, protected.sealed) == "my password is <SECRET>, help"


async def test_sealed_text_does_not_open_as_another_user(privacy: PrivacyService) -> None:
    alice, bob = privacy.pseudonym(ALICE), privacy.pseudonym(BOB)
    protected = await privacy.protect(alice, "hello")
    await privacy.protect(bob, "hi")  # bob has a key for the same day
    with pytest.raises(InvalidEvent):
        await privacy.reveal(bob, protected.sealed)


async def test_forget_shreds_only_that_user(
    privacy: PrivacyService, store: InMemoryEventStore, clock: FixedClock
) -> None:
    alice, bob = privacy.pseudonym(ALICE), privacy.pseudonym(BOB)
    first = await privacy.protect(alice, "question one")
    clock.advance(days=1)
    second = await privacy.protect(alice, "question two")
    kept = await privacy.protect(bob, "bob's question")

    erasure = await privacy.forget(ALICE)

    assert erasure.keys_shredded == 2
    assert await privacy.reveal(alice, first.sealed) is None
    assert await privacy.reveal(alice, second.sealed) is None
    assert await privacy.reveal(bob, kept.sealed) == "bob's question"
    [event] = await store.read_all(0, types=["privacy.UserErased"])
    assert event.payload == {"user": alice, "keys_shredded": 2}
    assert "U_ALICE" not in str(event)


async def test_retention_shreds_days_older_than_the_window(
    privacy: PrivacyService, clock: FixedClock
) -> None:
    alice = privacy.pseudonym(ALICE)
    old = await privacy.protect(alice, "from long ago")
    clock.advance(days=89)
    recent = await privacy.protect(alice, "from last quarter")
    clock.advance(days=2)  # `old` is now 91 days old, `recent` 2
    assert await privacy.shred_expired(retention_days=90) == 1
    assert await privacy.reveal(alice, old.sealed) is None
    assert await privacy.reveal(alice, recent.sealed) == "from last quarter"


async def test_consent_events_carry_pseudonyms_only(
    privacy: PrivacyService, store: InMemoryEventStore
) -> None:
    await privacy.opt_out(ALICE)
    await privacy.opt_in(ALICE)
    await privacy.exclude_channel("slack", "T1", "C_RANDOM")
    types = [e.type for e in store.events]
    assert types == ["privacy.UserOptedOut", "privacy.UserOptedIn", "privacy.ChannelExcluded"]
    assert "U_ALICE" not in repr(store.events)
    assert "C_RANDOM" not in repr(store.events)


async def test_huge_text_is_refused_before_anything_is_stored(
    privacy: PrivacyService, keys: InMemoryKeyVault
) -> None:
    with pytest.raises(InvalidEvent):
        await privacy.protect("user", "x" * (MAX_TEXT + 1))
    assert keys.keys == {}
