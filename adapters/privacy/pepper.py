"""The pepper: the secret behind every pseudonym. Kept out of the database, in a 0600 file in
the data dir (or BUDDY_PEPPER). The database keeps only a fingerprint, so a lost or swapped
pepper is caught before it silently re-pseudonymises everyone."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from adapters.store import schema
from adapters.store.database import Database
from domain.errors import ConfigurationError

PEPPER_FILE = "pepper"
MIN_PEPPER_BYTES = 16
_FINGERPRINT_SETTING = "pepper_fingerprint"


def fingerprint(pepper: bytes) -> str:
    return hmac.new(pepper, b"buddy:pepper-fingerprint", hashlib.sha256).hexdigest()[:32]


def read_pepper_file(path: Path) -> bytes:
    try:
        pepper = path.read_bytes().strip()
    except OSError as error:
        raise ConfigurationError(f"cannot read the pepper file {path}: {error.strerror}") from error
    if len(pepper) < MIN_PEPPER_BYTES:
        raise ConfigurationError(f"the pepper file {path} is too short to be a pepper")
    return pepper


def create_pepper_file(path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    pepper = secrets.token_hex(32).encode()
    # O_EXCL: never overwrite a pepper another process just created.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(pepper + b"\n")
    return pepper


async def load_pepper(db: Database, data_dir: Path, env_pepper: str | None) -> bytes:
    """The pepper this database was made with; created only for a database that has none."""
    known = await _stored_fingerprint(db)
    path = data_dir / PEPPER_FILE
    if env_pepper:
        pepper = env_pepper.encode()
        if len(pepper) < MIN_PEPPER_BYTES:
            raise ConfigurationError(f"BUDDY_PEPPER must be at least {MIN_PEPPER_BYTES} bytes")
    elif path.exists():
        pepper = read_pepper_file(path)
    elif known is None:
        try:
            pepper = create_pepper_file(path)
        except FileExistsError:
            pepper = read_pepper_file(path)
    else:
        raise ConfigurationError(
            f"the pepper file {path} is missing but this database was pseudonymised with one: "
            "restore it (or set BUDDY_PEPPER); a new pepper would orphan every pseudonym"
        )
    if known is None:
        # Two replicas starting on a fresh database both get here: the first one's fingerprint
        # is kept, and the second compares its pepper with it like any later start.
        known = await _store_fingerprint(db, fingerprint(pepper))
    if not hmac.compare_digest(known, fingerprint(pepper)):
        raise ConfigurationError(
            "this pepper is not the one the database was pseudonymised with "
            f"(check BUDDY_PEPPER or {path})"
        )
    return pepper


async def _stored_fingerprint(db: Database) -> str | None:
    table = schema.privacy_settings
    async with db.read() as conn:
        query = sa.select(table.c.value).where(table.c.name == _FINGERPRINT_SETTING)
        value = (await conn.execute(query)).scalar()
    return None if value is None else str(value)


async def _store_fingerprint(db: Database, value: str) -> str:
    """Store `value` unless a fingerprint is there already; the one stored either way."""
    table = schema.privacy_settings
    row = {"name": _FINGERPRINT_SETTING, "value": value}
    insert = (sqlite_insert(table) if db.is_sqlite else postgres_insert(table)).values(**row)
    async with db.write() as conn:
        await conn.execute(insert.on_conflict_do_nothing(index_elements=["name"]))
    stored = await _stored_fingerprint(db)
    assert stored is not None  # inserted, or there before
    return stored
