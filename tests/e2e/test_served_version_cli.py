"""`buddy ask` serves the registry's version: after `buddy promote v1` its answers carry
`+v1`, after `buddy rollback` the base again (real llama.cpp, real Gemma, SQLite)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adapters.llm.llamacpp_model import assemble_model
from adapters.store import migrate
from adapters.store.database import create_database
from adapters.store.event_store import SqlEventStore
from tests.adapter.test_llamacpp_serving import finished, random_adapter
from tests.e2e.test_cli import buddy

pytestmark = pytest.mark.slow


async def test_ask_answers_with_the_promoted_version_and_the_base_after_rollback(
    clean_env: dict[str, str], sqlite_url: str
) -> None:
    data = Path(clean_env["BUDDY_DATA_DIR"])
    base = assemble_model(data / "models")
    adapter = random_adapter(base, data / "adapters" / "v1" / "adapter.gguf")
    db = create_database(sqlite_url)
    await migrate.upgrade(db)
    await finished(SqlEventStore(db), "v1", adapter, data)
    await db.dispose()
    env = {**clean_env, "DATABASE_URL": sqlite_url}

    assert buddy("promote", "v1", env=env).returncode == 0
    asked = buddy("ask", "how do I roll back?", "--user", "alice", "--json", env=env, timeout=300)
    assert asked.returncode == 0, asked.stderr
    assert json.loads(asked.stdout)["model_version"] == "llamacpp:gemma-3-270m-q4_k_m+v1"

    assert buddy("rollback", env=env).returncode == 0
    again = buddy("ask", "how do I roll back?", "--user", "alice", "--json", env=env, timeout=300)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["model_version"] == "llamacpp:gemma-3-270m-q4_k_m"
