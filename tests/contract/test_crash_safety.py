"""kill -9 in the middle of appending batches leaves no half-written batch and no gap."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from adapters.store.event_store import SqlEventStore
from domain.events import NewEvent
from tests.contract.crash_writer import BATCH

KILLS = 5


def run_until_killed(url: str, stream: str, run: int, root: Path) -> None:
    writer = subprocess.Popen(
        [sys.executable, "-m", "tests.contract.crash_writer", url, stream, str(run)],
        cwd=root,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert writer.stdout is not None
    for _ in range(random.randint(3, 12)):  # let it commit a few batches first
        assert writer.stdout.readline(), "the writer died on its own"
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait(timeout=30)
    assert writer.returncode == -signal.SIGKILL


@pytest.mark.slow
async def test_kill_9_while_appending_leaves_whole_batches_and_no_gap(
    database_url: str, store: SqlEventStore, project_root: Path
) -> None:
    for run in range(KILLS):
        run_until_killed(database_url, "crashy", run, project_root)

    events = await store.read_stream("crashy")
    assert [e.version for e in events] == list(range(len(events)))
    everything = await store.read_all(0, limit=1_000_000)
    assert [e.position for e in everything] == list(range(1, len(everything) + 1))
    batch_sizes = Counter((e.payload["run"], e.payload["batch"]) for e in events)
    assert set(batch_sizes.values()) == {BATCH}
    assert {run for run, _ in batch_sizes} == set(range(KILLS))
    # And the store still takes appends after all that.
    asked = {"answer_id": "a", "user": "u", "channel": "c", "thread": "t", "text": "?"}
    after = NewEvent("conversation.QuestionAsked", {**asked, "after": "crashes"})
    result = await store.append("crashy", len(events) - 1, [after])
    assert result.first_version == len(events)
