"""`buddy bench`: the benchmark suite. Every figure that matters is a ratio taken in one run, so
results compare across machines; absolute rates are printed for context only."""

from __future__ import annotations

import json
import sqlite3
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from adapters.store import migrate
from adapters.store.database import create_database
from adapters.store.embedded_postgres import EmbeddedPostgres
from adapters.store.event_store import SqlEventStore
from bot.settings import Settings
from domain.errors import ConfigurationError
from domain.event_types import ConversationEvents
from domain.events import NO_STREAM, NewEvent

BATCH = 100
BENCHMARKS = (
    "store", "retrieval", "ingest", "vectors", "generation", "training", "answers", "scrubber",
    "chunking",
)  # fmt: skip
RATE_COLUMNS = [
    ("single", "single_per_s"),
    ("batch", "batch100_per_s"),
    ("raw single", "raw_single_per_s"),
    ("raw batch", "raw_batch100_per_s"),
]

INSERT = (
    "INSERT INTO events (position, stream_id, version, type, schema_version, payload, metadata,"
    " recorded_at) VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p}, {p})"
)


async def run_benchmarks(
    settings: Settings, name: str, events: int, distribution: str = "clustered", runs: int = 3,
    answers: Any = None,
) -> dict[str, Any]:  # fmt: skip
    """Run one benchmark or all of them; the figures by benchmark (`buddy bench` prints them)."""
    if name not in (*BENCHMARKS, "all"):
        raise ConfigurationError(
            f"unknown benchmark {name!r}; choose from: all, {', '.join(BENCHMARKS)}"
        )
    results: dict[str, Any] = {}
    if name in ("store", "all"):
        results["store"] = await bench_store(events)
    if name in ("retrieval", "all"):
        from bot.bench.knowledge import bench_retrieval

        results["retrieval"] = await bench_retrieval()
    if name in ("ingest", "all"):
        from bot.bench.knowledge import bench_ingest

        results["ingest"] = await bench_ingest()
    if name in ("vectors", "all"):
        from bot.bench.vectors import bench_vectors

        try:
            results["vectors"] = await bench_vectors(distribution=distribution)
        except ValueError as error:
            raise ConfigurationError(str(error)) from error
    if name in ("generation", "all"):
        from bot.bench.generation import bench_generation

        results["generation"] = await bench_generation(settings, runs)
    if name in ("training", "all"):
        from bot.bench.training import bench_training

        results["training"] = await bench_training(settings)
    if name in ("answers", "all"):
        from bot.bench.answers import BenchOptions, bench_answers

        results["answers"] = await bench_answers(settings, answers or BenchOptions())
    if name in ("scrubber", "all"):
        from bot.bench.scrubber import bench_scrubber

        results["scrubber"] = bench_scrubber()
    if name in ("chunking", "all"):
        from bot.bench.chunking import bench_chunking

        results["chunking"] = bench_chunking()
    return results


async def bench_store(events: int) -> dict[str, Any]:
    events -= events % BATCH
    with tempfile.TemporaryDirectory(prefix="buddy-bench-") as scratch:
        root = Path(scratch)
        server = EmbeddedPostgres(root / "pg")
        url = server.acquire()
        try:
            conninfo = url.replace("postgresql+psycopg://", "postgresql://")
            pg_result = await _bench_backend(
                url, events, lambda rows: _raw_postgres(conninfo, rows), "postgresql"
            )
        finally:
            server.release()
        sqlite_file = root / "bench.db"
        sqlite_result = await _bench_backend(
            f"sqlite+aiosqlite:///{sqlite_file}",
            events,
            lambda rows: _raw_sqlite(sqlite_file, rows),
            "sqlite",
        )
    return {"events": events, "batch_size": BATCH, "sqlite": sqlite_result, "postgresql": pg_result}


RawInsert = Callable[[list[list[tuple[Any, ...]]]], None]


async def _bench_backend(url: str, events: int, raw: RawInsert, label: str) -> dict[str, Any]:
    db = create_database(url)
    await migrate.upgrade(db)
    store = SqlEventStore(db)
    try:
        single = await _timed(f"{label}: store, 1 event per append", lambda: _single(store, events))
        batched = await _timed(
            f"{label}: store, {BATCH} per append", lambda: _batched(store, events)
        )
        start = await store.last_position()
    finally:
        await db.dispose()
    rows = _raw_rows(start, events)
    raw_single = _timed_sync(
        f"{label}: raw driver, 1 row per txn", lambda: raw([[r] for r in rows])
    )
    rows = _raw_rows(start + events, events, stream="raw-batch")
    chunks = [rows[i : i + BATCH] for i in range(0, events, BATCH)]
    raw_batched = _timed_sync(f"{label}: raw driver, {BATCH} rows per txn", lambda: raw(chunks))
    rates = {
        "single_per_s": events / single,
        "batch100_per_s": events / batched,
        "raw_single_per_s": events / raw_single,
        "raw_batch100_per_s": events / raw_batched,
    }
    return {
        **{key: round(value, 1) for key, value in rates.items()},
        "ratios": {
            "batch100_vs_single": round(rates["batch100_per_s"] / rates["single_per_s"], 2),
            "single_vs_raw_single": round(rates["single_per_s"] / rates["raw_single_per_s"], 3),
            "batch100_vs_raw_batch100": round(
                rates["batch100_per_s"] / rates["raw_batch100_per_s"], 3
            ),
        },
    }


def _event(i: int) -> NewEvent:
    payload = {"answer_id": f"bench-{i}", "user": "bench", "channel": "bench", "thread": None,
               "text": "how do I rotate the keys?"}  # fmt: skip
    return NewEvent(ConversationEvents.QUESTION_ASKED, payload)


async def _single(store: SqlEventStore, events: int) -> None:
    version = NO_STREAM
    for i in range(events):
        version = (await store.append("bench-single", version, [_event(i)])).last_version


async def _batched(store: SqlEventStore, events: int) -> None:
    version = NO_STREAM
    for start in range(0, events, BATCH):
        batch = [_event(i) for i in range(start, start + BATCH)]
        version = (await store.append("bench-batch", version, batch)).last_version


def _raw_rows(after: int, events: int, stream: str = "raw-single") -> list[tuple[Any, ...]]:
    now = datetime.now(UTC).isoformat()
    return [
        (after + i + 1, stream, i, ConversationEvents.QUESTION_ASKED, 1,
         json.dumps(_event(i).payload), "{}", now)
        for i in range(events)
    ]  # fmt: skip


def _raw_sqlite(path: Path, chunks: list[list[tuple[Any, ...]]]) -> None:
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    statement = INSERT.format(p="?")
    for chunk in chunks:
        connection.execute("BEGIN IMMEDIATE")
        connection.executemany(statement, chunk)
        connection.execute("COMMIT")
    connection.close()


def _raw_postgres(conninfo: str, chunks: list[list[tuple[Any, ...]]]) -> None:
    statement = INSERT.format(p="%s")
    with psycopg.connect(conninfo, autocommit=True) as connection:
        for chunk in chunks:
            with connection.transaction(), connection.cursor() as cursor:
                cursor.executemany(statement, chunk)


async def _timed(label: str, work: Callable[[], Awaitable[None]]) -> float:
    print(f"  {label} ...", file=sys.stderr, flush=True)
    started = time.perf_counter()
    await work()
    return time.perf_counter() - started


def _timed_sync(label: str, work: Callable[[], None]) -> float:
    print(f"  {label} ...", file=sys.stderr, flush=True)
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def print_table(results: dict[str, Any]) -> None:
    for name, result in results.items():
        if name == "generation":
            from bot.bench.generation import print_generation

            print_generation(result)
        elif name == "training":
            from bot.bench.training import print_training

            print_training(result)
        elif name == "answers":
            from bot.bench.answers import print_answers

            print_answers(result)
        elif name == "scrubber":
            from bot.bench.scrubber import print_scrubber

            print_scrubber(result)
        elif name != "store":
            print(f"{name}: {json.dumps(result, indent=2)}")
    store = results.get("store")
    if not store:
        return
    print(f"store: {store['events']} events per measurement, batches of {store['batch_size']}")
    for backend in ("sqlite", "postgresql"):
        row = store[backend]
        rates = "   ".join(f"{label} {row[key]:>8.0f}/s" for label, key in RATE_COLUMNS)
        print(f"  {backend:<10} {rates}")
        print(f"  {'':<10} ratios {json.dumps(row['ratios'])}")
