"""The job lock's contract on SQLite (a file lock) and PostgreSQL (a session advisory lock): one
holder per name across Database objects (as across replicas), freed when the holder is done."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from adapters.store.database import Database, create_database
from adapters.store.job_lock import SqlJobLock, advisory_key


@pytest.fixture
async def other_db(database_url: str, db: Database) -> AsyncIterator[Database]:
    """A second engine on the same database: another replica, as far as locks go."""
    database = create_database(database_url)
    yield database
    await database.dispose()


async def test_a_second_holder_is_refused_while_the_first_holds_it(
    db: Database, other_db: Database
) -> None:
    first, second = SqlJobLock(db), SqlJobLock(other_db)
    async with first.hold("milestones") as held:
        assert held
        async with second.hold("milestones") as also:
            assert not also
        async with first.hold("milestones") as again:  # not re-entrant either
            assert not again
        async with second.hold("retention") as other_name:
            assert other_name
    async with second.hold("milestones") as after:
        assert after
        async with first.hold("milestones") as refused:
            assert not refused


async def test_the_lock_is_freed_when_the_holder_fails(db: Database, other_db: Database) -> None:
    first, second = SqlJobLock(db), SqlJobLock(other_db)

    async def failing_job() -> None:
        async with first.hold("milestones") as held:
            assert held
            raise RuntimeError("job failed")

    with pytest.raises(RuntimeError, match="job failed"):
        await failing_job()
    async with second.hold("milestones") as after:
        assert after


async def test_a_cancelled_holder_frees_the_lock(db: Database, other_db: Database) -> None:
    first, second = SqlJobLock(db), SqlJobLock(other_db)
    inside = asyncio.Event()

    async def long_job() -> None:
        async with first.hold("milestones") as held:
            assert held
            inside.set()
            await asyncio.sleep(60)

    task = asyncio.create_task(long_job())
    await inside.wait()
    async with second.hold("milestones") as refused:
        assert not refused
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    async with second.hold("milestones") as after:
        assert after


async def test_racing_holders_get_it_once(db: Database, other_db: Database) -> None:
    locks = [SqlJobLock(db), SqlJobLock(other_db)] * 4
    start = asyncio.Event()

    async def try_it(lock: SqlJobLock) -> bool:
        await start.wait()
        async with lock.hold("milestones") as held:
            await asyncio.sleep(0.3)
            return held

    tasks = [asyncio.create_task(try_it(lock)) for lock in locks]
    await asyncio.sleep(0)
    start.set()
    assert sorted(await asyncio.gather(*tasks)) == [False] * 7 + [True]


async def test_the_lock_leaves_no_session_or_transaction_behind(db: Database) -> None:
    lock = SqlJobLock(db)
    async with lock.hold("milestones") as held:
        assert held
    if db.is_sqlite:
        path = lock.lock_path("milestones")
        assert path.name == "buddy.db.milestones.lock"
        assert path.stat().st_mode & 0o777 == 0o600
        return
    import sqlalchemy as sa

    async with db.read() as conn:
        query = sa.text(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database = "
            "(SELECT oid FROM pg_database WHERE datname = current_database())"
        )
        assert (await conn.execute(query)).scalar() == 0


def test_advisory_keys_stay_clear_of_the_transaction_lock_keys() -> None:
    keys = {advisory_key(name) for name in ("milestones", "retention", "rollback", "")}
    assert len(keys) == 4
    assert all(-(2**63) <= key < 2**63 and not 0 <= key < 2**32 for key in keys)
