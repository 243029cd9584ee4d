"""`buddy models`, `buddy promote` and `buddy rollback` as an admin runs them, on SQLite. None of
them loads a model."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

from adapters.store import migrate
from adapters.store.database import create_database
from adapters.store.event_store import SqlEventStore
from domain.events import NewEvent
from tests.e2e.test_cli import buddy


async def seed(url: str) -> None:
    db = create_database(url)
    await migrate.upgrade(db)
    store = SqlEventStore(db)
    for version, passed in (("v1", True), ("v2", False)):
        stream = f"model-{version}"
        await store.append(stream, None, [NewEvent("training.TrainingStarted", {
            "version": version, "base": "gemma-3-270m-q4_k_m", "dataset_hash": f"hash-{version}",
            "config": {"rank": 8}, "milestone": 100, "resumed_from_step": None,
        })])  # fmt: skip
        await store.append(stream, None, [NewEvent("training.TrainingFinished", {
            "version": version, "base": "gemma-3-270m-q4_k_m", "dataset_hash": f"hash-{version}",
            "config": {"rank": 8}, "metrics": {"train_loss": 2.5, "steps": 12},
            "adapter": {"dir": f"adapters/{version}/adapter",
                        "gguf": f"adapters/{version}/adapter.gguf", "sha256": "ab" * 32},
        })])  # fmt: skip
        await store.append(stream, None, [NewEvent("training.ModelEvaluated", {
            "version": version, "served_version": "base", "passed": passed,
            "metrics": {"eval_loss": 2.0, "served_eval_loss": 2.2}, "reasons": [],
        })])  # fmt: skip
    await store.append("model-v3", None, [
        NewEvent("training.TrainingStarted", {"version": "v3", "base": "gemma-3-270m-q4_k_m",
                                              "dataset_hash": "hash-v3", "config": {}}),
        NewEvent("training.TrainingFailed", {"version": "v3", "dataset_hash": "hash-v3",
                                             "config": {}, "error": "out of memory"}),
    ])  # fmt: skip
    await db.dispose()


async def test_models_promote_and_rollback(clean_env: dict[str, str], sqlite_url: str) -> None:
    await seed(sqlite_url)
    env = {**clean_env, "DATABASE_URL": sqlite_url}

    listed = buddy("models", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    document = json.loads(listed.stdout)
    assert document["served"] == "base"
    assert document["next_version"] == "v4"
    base, v1, v2, v3 = document["versions"]
    assert (base["version"], base["served"]) == ("base", True)
    assert base["license"] == "Gemma Terms of Use"
    assert v1 | {"created_at": None} == {
        "version": "v1", "status": "passed", "served": False, "base": "gemma-3-270m-q4_k_m",
        "license": "Gemma Terms of Use", "dataset_hash": "hash-v1", "config": {"rank": 8},
        "metrics": {"train_loss": 2.5, "steps": 12}, "adapter_sha256": "ab" * 32,
        "gguf": "adapters/v1/adapter.gguf", "created_at": None,
        "evaluation": {"served_version": "base", "passed": True, "reasons": [],
                       "metrics": {"eval_loss": 2.0, "served_eval_loss": 2.2}},
    }  # fmt: skip
    assert v1["created_at"]
    assert (v2["status"], v3["status"], v3["error"]) == ("gate_failed", "failed", "out of memory")

    promoted = buddy("promote", "v2", "--json", env=env)  # an admin overrides the gate
    assert promoted.returncode == 0, promoted.stderr
    assert json.loads(promoted.stdout)["previous"] == "base"
    assert buddy("promote", "v1", env=env).stdout.strip() == "promoted v1 (was v2)"

    text = buddy("models", env=env).stdout
    assert "* v1" in text
    assert "served: v1; rollback goes to v2" in text

    refused = buddy("promote", "v3", env=env)
    assert refused.returncode == 1
    assert refused.stderr.startswith("error: v3 cannot be served: its training failed")
    assert refused.stdout == ""

    rolled = buddy("rollback", "--json", env=env)
    assert rolled.returncode == 0, rolled.stderr
    assert json.loads(rolled.stdout)["to_version"] == "v2"
    assert buddy("rollback", env=env).stdout.strip() == "rolled back v2 -> base"
    nothing = buddy("rollback", env=env)
    assert nothing.returncode == 1
    assert nothing.stderr.strip() == (
        "error: nothing to roll back: base is served and nothing was served before it"
    )


ML = ("torch", "transformers", "peft", "llama_cpp", "sentence_transformers")
NO_ML = f"""
import sys
from typer.testing import CliRunner
from bot.cli import app
result = CliRunner().invoke(app, ["models", "--json"])
assert result.exit_code == 0, result.output
print([name for name in {ML!r} if name in sys.modules])
"""


async def test_the_registry_commands_load_no_ml_library(
    clean_env: dict[str, str], sqlite_url: str
) -> None:
    await seed(sqlite_url)
    env = {**clean_env, "DATABASE_URL": sqlite_url}
    found = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-c", NO_ML], env=env, capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip
    assert found.returncode == 0, found.stderr
    assert found.stdout.strip().splitlines()[-1] == "[]"
