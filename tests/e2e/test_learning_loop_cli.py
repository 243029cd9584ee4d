"""The learning loop on the embedded defaults (embedded PostgreSQL, Gemma 3 270M in llama.cpp),
from the CLI: ask -> react -> curate -> train -> models -> promote -> the answers carry the new
version -> rollback -> back on the base; then inside `buddy serve`: a milestone trains by itself
and a promotion is hot-swapped into the running server. Small: a few steps on short examples."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_cli import buddy
from tests.e2e.test_serve_cli import start_serving

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
QUESTIONS = [
    "how do I roll back a production deploy?",
    "how do I deploy a branch to staging?",
    "what do I do when the pager fires?",
]


def run_json(env: dict[str, str], *args: str, timeout: float = 600) -> Any:
    done = buddy(*args, "--json", env=env, timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def test_the_loop_runs_from_the_cli(tmp_path: Path, gemma_hf_base: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BUDDY_", "DATABASE"))}
    env |= {
        "BUDDY_DATA_DIR": str(tmp_path / "data"),
        # The de-quantised weights of the served GGUF, built once per test session; without
        # this, `buddy train` builds the same thing into the data dir on first use.
        "BUDDY_TRAIN_BASE": str(gemma_hf_base),
        "BUDDY_TRAIN_MAX_LENGTH": "128",
        "BUDDY_TRAIN_BATCH": "2",
    }
    done = buddy("ingest", str(ROOT / "data" / "sample-kb"), "--source-name", "sample", env=env,
                 timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr

    for index, question in enumerate(QUESTIONS):
        answer = run_json(env, "ask", question, "--user", f"dev{index}")
        assert answer["model_version"] == "llamacpp:gemma-3-270m-q4_k_m"
        rated = buddy("react", answer["answer_id"], "👍", "--user", f"dev{index}", env=env)
        assert rated.returncode == 0, rated.stderr

    curated = run_json(env, "curate")
    assert curated["train"] >= 1, curated

    trained = run_json(env, "train", "--max-steps", "2", timeout=900)
    assert set(trained) >= {"version", "status", "metrics", "promoted"}
    assert trained["version"] == "v1"
    assert trained["status"] == "finished", trained
    assert trained["metrics"]["steps"] == 2
    models = run_json(env, "models")
    assert "v1" in json.dumps(models)

    # Two steps on real Gemma may or may not pass the gate (the tiny model's loop asserts both
    # outcomes); either way the gate decided it, and the admin may promote regardless.
    assert trained["promoted"] is trained["gate"]["passed"], trained["gate"]
    if not trained["promoted"]:
        promoted = buddy("promote", "v1", env=env)
        assert promoted.returncode == 0, promoted.stderr
    answer = run_json(env, "ask", QUESTIONS[0], "--user", "newcomer")
    assert answer["model_version"] == "llamacpp:gemma-3-270m-q4_k_m+v1"
    assert answer["answer"].strip()

    rolled = buddy("rollback", env=env)
    assert rolled.returncode == 0, rolled.stderr
    answer = run_json(env, "ask", QUESTIONS[1], "--user", "newcomer")
    assert answer["model_version"] == "llamacpp:gemma-3-270m-q4_k_m"

    kinds = {e["type"] for e in run_json(env, "events")["events"]}
    assert {"training.TrainingStarted", "training.TrainingFinished", "training.ModelEvaluated",
            "training.ModelPromoted", "training.ModelRolledBack"} <= kinds  # fmt: skip

    serve_loop(env)


def serve_loop(env: dict[str, str]) -> None:
    """Inside `buddy serve`: milestone 1 is reached (the CLI's run carried none), so the
    scheduler trains v2 by itself; an admin promotes it and the running server swaps to it."""
    serve_env = env | {"BUDDY_MILESTONES": "1", "BUDDY_PORT": "0", "BUDDY_HOST": "127.0.0.1",
                       "BUDDY_MODEL_WATCH_S": "1"}  # fmt: skip
    process, base = start_serving(serve_env)
    drained: list[str] = []
    assert process.stderr is not None
    reader = threading.Thread(target=lambda: drained.extend(process.stderr), daemon=True)  # type: ignore[arg-type]
    reader.start()
    try:
        assert health(base)["model_version"] == "llamacpp:gemma-3-270m-q4_k_m"
        deadline = time.monotonic() + 900
        while not finished_versions(env) >= {"v1", "v2"}:
            assert process.poll() is None, "".join(drained)
            assert time.monotonic() < deadline, "the milestone never trained: " + "".join(drained)
            time.sleep(3)
        started = [e for e in events(env) if e["type"] == "training.TrainingStarted"]
        assert started[-1]["payload"]["milestone"] == 1
        promoted = buddy("promote", "v2", env=env)
        assert promoted.returncode == 0, promoted.stderr
        deadline = time.monotonic() + 60
        while health(base)["model_version"] != "llamacpp:gemma-3-270m-q4_k_m+v2":
            assert time.monotonic() < deadline, "serve never swapped: " + "".join(drained)
            time.sleep(0.5)
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=120) == 0, "".join(drained)


def health(base: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{base}/healthz", timeout=10) as response:
        document: dict[str, Any] = json.loads(response.read())
        return document


def events(env: dict[str, str]) -> list[dict[str, Any]]:
    types = ("--type", "training.TrainingStarted", "--type", "training.TrainingFinished")
    found: list[dict[str, Any]] = run_json(env, "events", *types)["events"]
    return found


def finished_versions(env: dict[str, str]) -> set[str]:
    return {
        str(e["payload"]["version"])
        for e in events(env)
        if e["type"] == "training.TrainingFinished"
    }
