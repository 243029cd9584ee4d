"""`buddy ask` on the real embedded model, on SQLite: an answer with sources and stored lineage."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.test_cli import buddy


@pytest.mark.slow
def test_ask_answers_with_sources_and_stores_the_exchange(
    clean_env: dict[str, str], sqlite_url: str, project_root: Path
) -> None:
    env = {**clean_env, "DATABASE_URL": sqlite_url}
    kb = str(project_root / "data" / "sample-kb")
    assert buddy("ingest", kb, "--source-name", "sample", env=env, timeout=600).returncode == 0

    done = buddy("ask", "how do I roll back a production deploy?", "--user", "alice", "--json",
                 env=env, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert set(answer) == {"answer_id", "answer", "sources", "model_version", "latency_ms"}
    assert answer["answer"].strip()
    assert answer["model_version"] == "llamacpp:gemma-3-270m-q4_k_m"
    assert answer["sources"][0]["path"] == "sample/docs/deployment.md"
    assert answer["sources"][0]["license"] == "Apache-2.0"
    assert answer["latency_ms"] > 0

    events = json.loads(buddy("events", "--json", env=env).stdout)["events"]
    conversation = [e for e in events if e["type"].startswith("conversation.")]
    assert [e["type"] for e in conversation] == [
        "conversation.QuestionAsked",
        "conversation.AnswerGiven",
    ]
    asked, given = conversation
    assert "alice" not in json.dumps(asked)
    assert "roll back" not in asked["payload"]["text"]  # sealed, not plain
    assert given["payload"]["prompt_version"] == "answer-v1"
    assert given["payload"]["chunks"]
    assert given["payload"]["completion_tokens"] > 0
