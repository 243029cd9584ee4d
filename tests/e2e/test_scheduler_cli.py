"""The scheduler inside `buddy serve`, and BUDDY_MILESTONES in `buddy curate` and `buddy stats`."""

from __future__ import annotations

import json
import signal
import sqlite3
import time
import urllib.request
from pathlib import Path

from tests.e2e.test_cli import buddy
from tests.e2e.test_serve_cli import start_serving


def event_types(sqlite_url: str) -> list[str]:
    path = sqlite_url.split("///", 1)[1]
    with sqlite3.connect(path) as conn:
        return [row[0] for row in conn.execute("SELECT type FROM events ORDER BY position")]


def test_serve_runs_the_milestone_job_at_start(clean_env: dict[str, str], sqlite_url: str) -> None:
    env = {
        **clean_env, "DATABASE_URL": sqlite_url, "BUDDY_PORT": "0", "BUDDY_HOST": "127.0.0.1",
        "BUDDY_MILESTONES": "1000", "BUDDY_LOG_LEVEL": "INFO",
    }  # fmt: skip
    # Something happened while no bot ran: the first round after start curates (no training:
    # nothing is near a milestone).
    assert buddy("optout", "slack", "U1", env=env).returncode == 0
    process, _ = start_serving(env)
    try:
        deadline = time.monotonic() + 90
        while "training.DatasetCurated" not in event_types(sqlite_url):
            assert time.monotonic() < deadline, "the milestone job never curated"
            time.sleep(0.5)
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    assert event_types(sqlite_url).count("training.DatasetCurated") == 1
    assert process.stderr is not None
    assert "curated 0 examples" in process.stderr.read()  # logged by the job
    lock = Path(sqlite_url.split("///", 1)[1] + ".milestone-training.lock")
    assert lock.exists()  # the job lock beside the database file


def test_serve_without_the_scheduler_curates_nothing(
    clean_env: dict[str, str], sqlite_url: str
) -> None:
    env = {
        **clean_env, "DATABASE_URL": sqlite_url, "BUDDY_PORT": "0", "BUDDY_HOST": "127.0.0.1",
        "BUDDY_SCHEDULER": "0", "BUDDY_LOG_LEVEL": "INFO",
    }  # fmt: skip
    assert buddy("optout", "slack", "U1", env=env).returncode == 0
    process, base = start_serving(env)
    with urllib.request.urlopen(f"{base}/healthz", timeout=10) as response:
        assert response.status == 200  # up, and its SIGTERM handler installed
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0
    assert process.stderr is not None
    assert "scheduler" not in process.stderr.read()
    assert "training.DatasetCurated" not in event_types(sqlite_url)


def test_configured_milestones_show_in_curate_and_stats(
    clean_env: dict[str, str], sqlite_url: str
) -> None:
    env = {**clean_env, "DATABASE_URL": sqlite_url, "BUDDY_MILESTONES": "25, 5,10"}
    done = buddy("curate", "--json", env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["next_milestone"] == 5
    stats = json.loads(buddy("stats", "--json", env=env).stdout)
    assert stats["dataset"] == {"curated_examples": 0, "next_milestone": 5}
    bad = buddy("stats", env={**env, "BUDDY_MILESTONES": "ten"})
    assert bad.returncode != 0
    assert "BUDDY_MILESTONES" in bad.stderr
