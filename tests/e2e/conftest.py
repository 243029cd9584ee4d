"""Shared end-to-end fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.e2e.test_cli import buddy

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """One data dir with the sample knowledge base ingested, shared by this module's tests."""
    data = tmp_path_factory.mktemp("ask")
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("BUDDY_", "DATABASE"))}
    environment["BUDDY_DATA_DIR"] = str(data / "data")
    environment["DATABASE_URL"] = f"sqlite+aiosqlite:///{data / 'buddy.db'}"
    kb = str(ROOT / "data" / "sample-kb")
    done = buddy("ingest", kb, "--source-name", "sample", env=environment, timeout=600)
    assert done.returncode == 0, done.stderr
    return environment
