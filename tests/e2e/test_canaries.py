"""Canaries planted in every input path never reach the database files, the logs or the events.

Input paths today: question/answer text (PrivacyService.protect), consent and erasure commands
(raw platform ids), and log lines. Later input paths add themselves to `plant`."""

from __future__ import annotations

import asyncio
import io
import logging
import secrets
import string
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.privacy.key_vault import SqlKeyVault
from adapters.privacy.pseudonyms import HmacPseudonymizer
from adapters.privacy.scrubber import PatternScrubber
from adapters.privacy.sealer import AesGcmSealer
from adapters.store import migrate
from adapters.store.clock import SystemClock
from adapters.store.database import create_database
from adapters.store.embedded_postgres import EmbeddedPostgres
from adapters.store.event_store import SqlEventStore
from bot.logs import configure_logging
from domain.events import NewEvent
from domain.privacy_service import Person, PrivacyService

TOKEN_ALPHABET = string.ascii_letters + string.digits
chat_text = st.text(
    alphabet=string.ascii_letters + string.digits + " .,?!:;()[]{}'\"-_/\n", max_size=60
)
token = st.text(alphabet=TOKEN_ALPHABET, min_size=36, max_size=36)
name = st.text(alphabet=string.ascii_lowercase, min_size=8, max_size=12)


def canaries_for(secret: str, local: str) -> dict[str, str]:
    return {
        "email": f"{local}.canary@example.com",
        "github": f"ghp_{secret}",
        "user_id": f"U{local.upper()}CANARY",
        "channel_id": f"C{local.upper()}CANARY",
    }


async def plant(url: str, prefix: str, suffix: str, canary: dict[str, str]) -> None:
    db = create_database(url)
    await migrate.upgrade(db)
    store = SqlEventStore(db)
    keys = SqlKeyVault(db)
    privacy = PrivacyService(
        store, PatternScrubber(), HmacPseudonymizer(b"canary-pepper-0123456789"),
        AesGcmSealer(keys), keys, SystemClock(),
    )  # fmt: skip
    person = Person("slack", "T1", canary["user_id"])
    user = privacy.pseudonym(person)
    text = f"{prefix} mail {canary['email']} token {canary['github']} {suffix}"
    protected = await privacy.protect(user, text)
    asked = {"answer_id": f"a-{user[:8]}", "user": user, "channel": "c", "thread": "t",
             "text": protected.sealed}  # fmt: skip
    await store.append(
        f"question-{user[:8]}", None, [NewEvent("conversation.QuestionAsked", asked)]
    )
    await privacy.opt_out(person)
    await privacy.exclude_channel("slack", "T1", canary["channel_id"])
    logging.getLogger("buddy.test").warning("question from %s: %s", user, text)
    await privacy.forget(person)
    await db.dispose()


def raw_bytes(paths: list[Path]) -> bytes:
    return b"".join(p.read_bytes() for p in paths if p.is_file())


def assert_absent(haystack: bytes, canary: dict[str, str], where: str) -> None:
    for kind, value in canary.items():
        assert value.encode() not in haystack, f"{kind} canary found in {where}"


@settings(max_examples=12, deadline=None)
@given(prefix=chat_text, suffix=chat_text, secret=token, local=name)
def test_canaries_never_reach_sqlite_files_or_logs(
    prefix: str, suffix: str, secret: str, local: str
) -> None:
    canary = canaries_for(secret, local)
    log = io.StringIO()
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    configure_logging("DEBUG", "json", PatternScrubber())
    root.handlers[0].setStream(log)  # type: ignore[attr-defined]
    try:
        with tempfile.TemporaryDirectory(prefix="canary-") as scratch:
            folder = Path(scratch)
            db_file = folder / "buddy.db"
            asyncio.run(plant(f"sqlite+aiosqlite:///{db_file}", prefix, suffix, canary))
            files = [db_file, folder / "buddy.db-wal", folder / "buddy.db-shm"]
            assert_absent(raw_bytes(files), canary, "the SQLite files")
    finally:
        root.handlers[:], root.level = saved[0], saved[1]
    assert_absent(log.getvalue().encode(), canary, "the logs")
    assert "question from" in log.getvalue()  # the log line itself was written


async def test_canaries_never_reach_postgres_files(
    embedded_pg: EmbeddedPostgres, pg_url: str
) -> None:
    canary = canaries_for(secrets.token_hex(18), "pgcanary" + secrets.token_hex(3))
    await plant(pg_url, "Hi team,", "thanks!", canary)
    db = create_database(pg_url)
    async with db.engine.connect() as conn:
        await conn.exec_driver_sql("CHECKPOINT")  # flush everything to the data files
    await db.dispose()
    files = [p for p in embedded_pg.pgdata.rglob("*") if p.is_file()]
    assert_absent(raw_bytes(files), canary, "the PostgreSQL data directory")
