"""Erasure end to end on real adapters: after forget, nothing of that user opens; others do."""

from __future__ import annotations

from adapters.privacy.key_vault import SqlKeyVault
from adapters.privacy.pseudonyms import HmacPseudonymizer
from adapters.privacy.scrubber import PatternScrubber
from adapters.privacy.sealer import AesGcmSealer
from adapters.store.clock import SystemClock
from adapters.store.consent import ConsentProjection
from adapters.store.database import Database
from adapters.store.event_store import SqlEventStore
from adapters.store.projections import ProjectionRunner
from domain.events import NewEvent
from domain.privacy_service import Person, PrivacyService

ALICE, BOB = Person("local", "default", "alice"), Person("local", "default", "bob")


async def test_forget_makes_every_text_of_the_user_unreadable_and_spares_others(
    db: Database, store: SqlEventStore
) -> None:
    keys = SqlKeyVault(db)
    privacy = PrivacyService(
        store, PatternScrubber(), HmacPseudonymizer(b"pepper-for-erasure-tests"),
        AesGcmSealer(keys), keys, SystemClock(),
    )  # fmt: skip
    for person, texts in (
        (ALICE, ["how do I deploy?", "and roll back?"]),
        (BOB, ["where are logs?"]),
    ):
        user = privacy.pseudonym(person)
        for text in texts:
            sealed = (await privacy.protect(user, text)).sealed
            asked = {"answer_id": text, "user": user, "channel": "c", "thread": "t", "text": sealed}
            event = NewEvent("conversation.QuestionAsked", asked)
            await store.append(f"q-{user[:6]}", None, [event])

    await privacy.forget(ALICE)

    alice, bob = privacy.pseudonym(ALICE), privacy.pseudonym(BOB)
    readable = {}
    for event in await store.read_all(0, types=["conversation.QuestionAsked"]):
        user = event.payload["user"]
        readable.setdefault(user, []).append(await privacy.reveal(user, event.payload["text"]))
    assert readable[alice] == [None, None]
    assert readable[bob] == ["where are logs?"]

    consent, runner = ConsentProjection(), ProjectionRunner(db, store)
    await runner.rebuild(consent)
    async with db.read() as conn:
        assert await consent.excluded(conn, alice)
        assert not await consent.excluded(conn, bob)
