"""Keys, sealing and the consent projection on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from adapters.privacy.key_vault import SqlKeyVault
from adapters.privacy.sealer import AesGcmSealer
from adapters.store.consent import ConsentProjection
from adapters.store.database import Database
from adapters.store.event_store import SqlEventStore
from adapters.store.projections import ProjectionRunner
from domain.errors import InvalidEvent
from domain.events import NewEvent

DAY_1 = datetime(2026, 8, 1, 9, 30, tzinfo=UTC)
DAY_2 = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)


async def test_keys_are_created_once_even_when_racing(db: Database) -> None:
    vault = SqlKeyVault(db)
    keys = await asyncio.gather(*(vault.data_key("alice", "2026-11-23") for _ in range(8)))
    assert len(set(keys)) == 1
    assert len(keys[0]) == 32
    assert await vault.existing_key("alice", "2026-11-23") == keys[0]
    assert await vault.existing_key("alice", "2026-11-24") is None


async def test_sealed_text_opens_until_its_key_is_shredded(db: Database) -> None:
    vault = SqlKeyVault(db)
    sealer = AesGcmSealer(vault)
    old = await sealer.seal("alice", "old question", DAY_1)
    new = await sealer.seal("alice", "new question", DAY_2)
    bobs = await sealer.seal("bob", "bob's question", DAY_1)
    assert await sealer.unseal("alice", old) == "old question"

    assert await vault.shred_before("2026-09-01") == 2  # alice's and bob's day-1 keys
    assert await sealer.unseal("alice", old) is None
    assert await sealer.unseal("bob", bobs) is None
    assert await sealer.unseal("alice", new) == "new question"

    assert await vault.shred_user("alice") == 1
    assert await sealer.unseal("alice", new) is None


@pytest.mark.parametrize("garbage", ["", "v1:2026-01-01", "v2:2026-01-01:AAAA", "v1:2026-01-01:!!"])
async def test_malformed_sealed_text_is_a_clear_error(db: Database, garbage: str) -> None:
    with pytest.raises(InvalidEvent):
        await AesGcmSealer(SqlKeyVault(db)).unseal("alice", garbage)


async def test_consent_projection_rebuilds_to_the_same_states(
    db: Database, store: SqlEventStore
) -> None:
    def user_event(event_type: str, user: str) -> NewEvent:
        if event_type == "privacy.UserErased":
            return NewEvent(event_type, {"user": user, "keys_shredded": 0})
        return NewEvent(event_type, {"user": user, "platform": "local"})

    await store.append("p-a", None, [user_event("privacy.UserOptedOut", "alice")])
    await store.append("p-b", None, [user_event("privacy.UserOptedOut", "bob")])
    await store.append("p-b", None, [user_event("privacy.UserOptedIn", "bob")])
    await store.append(
        "p-c", None, [NewEvent("privacy.ChannelExcluded", {"channel": "c1", "platform": "local"})]
    )
    await store.append("p-e", None, [user_event("privacy.UserErased", "eve")])
    await store.append("p-e", None, [user_event("privacy.UserOptedIn", "eve")])

    runner, consent = ProjectionRunner(db, store), ConsentProjection()
    await runner.catch_up(consent)
    async with db.read() as conn:
        incremental = await consent.states(conn)
        assert await consent.excluded(conn, "alice")
        assert not await consent.excluded(conn, "bob")
        assert await consent.excluded(conn, "bob", channel="c1")
        assert await consent.excluded(conn, "eve")  # erased stays out after an opt-in
    await runner.rebuild(consent)
    async with db.read() as conn:
        assert await consent.states(conn) == incremental
    assert incremental == {
        "user:alice": "opted_out",
        "user:bob": "opted_in",
        "channel:c1": "excluded",
        "user:eve": "erased",
    }
