"""Every replica serves what the registry says: two `buddy serve` processes on one embedded
PostgreSQL, each with its own data dir. Replica A's data dir holds the trained v1 (an adapter
with Gemma's shapes, converted and shared the way the training pipeline does); once v1 is
promoted, both swap to it, B after fetching the adapter by its hash from the database."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from adapters.store import migrate
from adapters.store.adapter_blobs import SqlAdapterBlobs
from adapters.store.database import create_database
from adapters.store.event_store import SqlEventStore
from domain.events import NewEvent
from domain.model_registry import ModelRegistry
from tests.adapter.test_llamacpp_serving import random_adapter
from tests.e2e.test_serve_cli import start_serving
from training.adapter_store import publish_adapter

pytestmark = pytest.mark.slow
BASE_LABEL = "llamacpp:gemma-3-270m-q4_k_m"


def data_dir(root: Path, gemma_gguf: Path) -> Path:
    """A replica's data dir, with the embedded base already in place (linked, not copied)."""
    models = root / "models"
    models.mkdir(parents=True)
    try:
        os.link(gemma_gguf, models / gemma_gguf.name)
    except OSError:
        shutil.copy(gemma_gguf, models / gemma_gguf.name)
    return root


def health(base: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{base}/healthz", timeout=30) as response:
        document: dict[str, Any] = json.loads(response.read())
        return document


async def trained_on_replica_a(url: str, data: Path, gemma_gguf: Path) -> bytes:
    """What the pipeline leaves behind on A: the files on A's disk, shared by hash in the
    database, and `TrainingFinished` naming them. Returns the GGUF's bytes."""
    gguf = random_adapter(gemma_gguf, data / "adapters" / "v1" / "adapter.gguf")
    peft = gguf.parent / "peft"
    db = create_database(url)
    try:
        await migrate.upgrade(db)
        hashes = await publish_adapter(SqlAdapterBlobs(db), gguf, peft)
        await SqlEventStore(db).append("model-v1", None, [NewEvent("training.TrainingFinished", {
            "version": "v1", "base": "gemma-3-270m-q4_k_m", "dataset_hash": "d", "config": {},
            "metrics": {}, "adapter": {"dir": str(peft.relative_to(data)),
                                       "gguf": str(gguf.relative_to(data)), **hashes},
        })])  # fmt: skip
    finally:
        await db.dispose()
    return gguf.read_bytes()


async def promote(url: str, version: str) -> None:
    db = create_database(url)
    try:
        await ModelRegistry(SqlEventStore(db)).promote(version)
    finally:
        await db.dispose()


async def test_two_serve_replicas_on_one_database_both_swap_to_the_promoted_version(
    pg_url: str, gemma_gguf: Path, tmp_path: Path
) -> None:
    a = data_dir(tmp_path / "replica-a", gemma_gguf)
    b = data_dir(tmp_path / "replica-b", gemma_gguf)
    trained = await trained_on_replica_a(pg_url, a, gemma_gguf)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BUDDY_", "DATABASE"))}
    env |= {"DATABASE_URL": pg_url, "BUDDY_PORT": "0", "BUDDY_HOST": "127.0.0.1",
            "BUDDY_MODEL_WATCH_S": "0.5", "BUDDY_SCHEDULER": "0"}  # fmt: skip
    replicas: list[tuple[subprocess.Popen[str], str]] = []
    logs: list[list[str]] = []
    try:
        for data in (a, b):
            process, base = await asyncio.to_thread(
                start_serving, env | {"BUDDY_DATA_DIR": str(data)}
            )
            replicas.append((process, base))
            logs.append([])
            drain = threading.Thread(target=logs[-1].extend, args=(process.stderr,), daemon=True)
            drain.start()
        for _, base in replicas:
            assert (await asyncio.to_thread(health, base))["model_version"] == BASE_LABEL
        assert not (b / "adapters").exists()  # v1 exists on A's disk alone

        await promote(pg_url, "v1")
        deadline = time.monotonic() + 120
        for (process, base), log in zip(replicas, logs, strict=True):
            while (await asyncio.to_thread(health, base))["model_version"] != BASE_LABEL + "+v1":
                assert process.poll() is None, "".join(log)
                assert time.monotonic() < deadline, "a replica never swapped: " + "".join(log)
                await asyncio.sleep(0.5)
        assert (b / "adapters" / "v1" / "adapter.gguf").read_bytes() == trained  # fetched by hash
    finally:
        for process, _ in replicas:
            process.send_signal(signal.SIGTERM)
        for process, _ in replicas:
            assert await asyncio.to_thread(process.wait, 60) == 0
