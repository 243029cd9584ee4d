"""Keys scoped to one conversation, on both backends: shredded alone, and by retention."""

from __future__ import annotations

from datetime import UTC, datetime

from adapters.privacy.key_vault import SqlKeyVault
from adapters.privacy.sealer import AesGcmSealer
from adapters.store.database import Database

DAY = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
LATER = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
SCOPE = "9f" * 16  # an answer id: 32 hex characters


async def test_a_scoped_key_is_shredded_alone_and_retention_reaches_it(db: Database) -> None:
    sealer = AesGcmSealer(SqlKeyVault(db))
    scoped = await sealer.seal("u1", "the question", DAY, scope=SCOPE)
    day_wide = await sealer.seal("u1", "another text", DAY)
    later = await sealer.seal("u1", "a later question", LATER, scope="a" * 32)
    assert scoped.split(":")[1] == f"2026-11-20/{SCOPE}"

    assert await sealer.shred("u1", scoped)
    assert await sealer.unseal("u1", scoped) is None
    assert await sealer.unseal("u1", day_wide) == "another text"
    assert not await sealer.shred("u1", scoped)  # nothing left to shred

    again = await sealer.seal("u1", "re-asked", DAY, scope="b" * 32)
    assert await SqlKeyVault(db).shred_before("2026-11-21") == 2  # the day's keys, scoped too
    assert await sealer.unseal("u1", again) is None
    assert await sealer.unseal("u1", later) == "a later question"
