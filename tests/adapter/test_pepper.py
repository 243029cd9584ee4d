"""The pepper: created 0600 once, stable across restarts, never silently replaced."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from adapters.privacy.pepper import PEPPER_FILE, load_pepper
from adapters.store import migrate
from adapters.store.database import Database, create_database
from domain.errors import ConfigurationError


@pytest.fixture
async def sqlite_db(sqlite_url: str) -> Database:
    db = create_database(sqlite_url)
    await migrate.upgrade(db)
    yield db  # type: ignore[misc]
    await db.dispose()


async def test_pepper_is_created_0600_and_survives_restarts(
    sqlite_db: Database, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    first = await load_pepper(sqlite_db, data_dir, None)
    path = data_dir / PEPPER_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) >= 32
    assert await load_pepper(sqlite_db, data_dir, None) == first  # a restart reads the same one


async def test_a_missing_pepper_file_is_an_error_not_a_new_pepper(
    sqlite_db: Database, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    await load_pepper(sqlite_db, data_dir, None)
    (data_dir / PEPPER_FILE).unlink()
    with pytest.raises(ConfigurationError, match="missing"):
        await load_pepper(sqlite_db, data_dir, None)
    assert not (data_dir / PEPPER_FILE).exists()


async def test_an_unreadable_pepper_file_is_a_clear_error(
    sqlite_db: Database, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    (data_dir / PEPPER_FILE).mkdir(parents=True)  # unreadable as a file, even for root
    with pytest.raises(ConfigurationError, match="cannot read the pepper file"):
        await load_pepper(sqlite_db, data_dir, None)


async def test_a_different_pepper_is_refused(sqlite_db: Database, tmp_path: Path) -> None:
    await load_pepper(sqlite_db, tmp_path / "data", "the-first-pepper-0123456789")
    with pytest.raises(ConfigurationError, match="not the one"):
        await load_pepper(sqlite_db, tmp_path / "data", "another-pepper-0123456789")
    with pytest.raises(ConfigurationError, match="at least"):
        await load_pepper(sqlite_db, tmp_path / "data", "short")
    assert await load_pepper(sqlite_db, tmp_path / "data", "the-first-pepper-0123456789")


async def test_replicas_starting_together_on_a_fresh_database(db: Database, tmp_path: Path) -> None:
    """Both see no fingerprint yet and both store theirs: the first wins, the same pepper is
    accepted, and another pepper is refused rather than left running with other pseudonyms."""
    import asyncio

    same = "s" * 32
    first, second = await asyncio.gather(
        load_pepper(db, tmp_path / "a", same), load_pepper(db, tmp_path / "b", same)
    )
    assert first == second == same.encode()
    with pytest.raises(ConfigurationError, match="not the one"):
        await load_pepper(db, tmp_path / "c", "t" * 32)


async def test_a_replica_losing_the_race_with_another_pepper_is_refused(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import adapters.privacy.pepper as pepper_module

    real = pepper_module._stored_fingerprint
    calls = 0

    async def nothing_yet(database: Database) -> str | None:  # the other replica is faster
        nonlocal calls
        calls += 1
        return None if calls == 1 else await real(database)

    await load_pepper(db, tmp_path / "a", "a" * 32)
    monkeypatch.setattr(pepper_module, "_stored_fingerprint", nothing_yet)
    with pytest.raises(ConfigurationError, match="not the one"):
        await load_pepper(db, tmp_path / "b", "b" * 32)
