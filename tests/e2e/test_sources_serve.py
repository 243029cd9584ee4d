"""A team registers its repository once and `buddy serve` keeps it current: a commit made after
`buddy sources add` reaches the index on the source's own schedule, with no command run, and the
first sync's embedding is reported in the log (nobody watches a progress bar under serve)."""

from __future__ import annotations

import json
import signal
import threading
import time
from pathlib import Path

import pytest

from tests.adapter.test_git_source import MIT, commit, git
from tests.e2e.test_cli import buddy
from tests.e2e.test_scheduler_cli import event_types
from tests.e2e.test_serve_cli import start_serving

pytestmark = pytest.mark.slow
EVERY_HOURS = 0.01  # 36 s: the shortest interval `buddy sources add` takes


def test_serve_syncs_a_registered_repository_on_its_schedule(
    clean_env: dict[str, str], sqlite_url: str, tmp_path: Path
) -> None:
    repo = tmp_path / "handbook"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    commit(repo, {"LICENSE": MIT, "deploy.md": "# Deploy\n\nRun make deploy.\n"}, "first")
    env = {
        **clean_env, "DATABASE_URL": sqlite_url, "BUDDY_PORT": "0", "BUDDY_HOST": "127.0.0.1",
        "BUDDY_SOURCE_CHECK_MINUTES": "0.05", "BUDDY_LOG_LEVEL": "INFO",
    }  # fmt: skip
    added = buddy("sources", "add", f"file://{repo}", "--name", "handbook",
                  "--every", str(EVERY_HOURS), "--json", env=env, timeout=300)  # fmt: skip
    assert added.returncode == 0, added.stderr
    commit(repo, {"rollback.md": "# Rollback\n\nRun make rollback-quasar to undo a release.\n",
                  "deploy.md": None})  # fmt: skip
    head = git(repo, "rev-parse", "HEAD")

    process, _ = start_serving(env)
    logged: list[str] = []  # read as it comes: a full pipe would stall the server
    reader = threading.Thread(target=lambda: logged.extend(process.stderr or ()), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + EVERY_HOURS * 3600 + 120
        while event_types(sqlite_url).count("knowledge.SourceSynced") < 2:
            assert process.poll() is None, "serve exited"
            assert time.monotonic() < deadline, "serve never synced the source"
            time.sleep(1)
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    reader.join(timeout=30)
    log = "".join(logged)
    assert "embedding: started" in log  # the new file's chunks, reported as they are embedded
    assert "embedding: " in log
    assert ", done" in log

    [listed] = json.loads(buddy("sources", "--json", env=env).stdout)["sources"]
    assert (listed["name"], listed["revision"], listed["documents"]) == ("handbook", head, 1)
    assert listed["last_changes"] == {"added": 1, "changed": 0, "unchanged": 0, "removed": 1}
    found = json.loads(buddy("search", "rollback-quasar", "--json", env=env, timeout=300).stdout)
    sources = [hit["source"] for hit in found["results"]]
    assert sources
    assert sources[0].startswith(f"handbook@{head[:12]}:rollback.md")
    assert not any("deploy.md" in source for source in sources)
