"""`buddy curate --synthesize N`: the cold start on the real embedded model, on SQLite."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.test_cli import buddy

ROOT = Path(__file__).resolve().parents[2]


def sqlite_env(clean_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    return clean_env | {"DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'buddy.db'}"}


def test_an_empty_knowledge_base_is_a_clear_error(
    clean_env: dict[str, str], tmp_path: Path
) -> None:
    done = buddy("curate", "--synthesize", "2", env=sqlite_env(clean_env, tmp_path))
    assert done.returncode == 1
    assert "ingest documents first: buddy ingest PATH" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_synthesized_pairs_go_into_train_only(clean_env: dict[str, str], tmp_path: Path) -> None:
    env = sqlite_env(clean_env, tmp_path)
    kb = str(ROOT / "data" / "sample-kb")
    ingested = buddy("ingest", kb, "--source-name", "sample", env=env, timeout=600)
    assert ingested.returncode == 0, ingested.stderr

    done = buddy("curate", "--synthesize", "2", "--json", env=env, timeout=600)

    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["synthesis"]["requested"] == 2
    assert 1 <= summary["synthesized"] <= 2, summary
    assert summary["synthetic"] == summary["synthesized"] == summary["train"]
    assert (summary["examples"], summary["eval"]) == (0, 0)  # nobody has rated anything yet
    train = Path(env["BUDDY_DATA_DIR"]) / "datasets" / "latest" / "train.jsonl"
    examples = [json.loads(line) for line in train.read_text().splitlines()]
    assert len(examples) == summary["synthesized"]
    for example in examples:
        system, user, assistant = example["messages"]
        assert (system["role"], user["role"], assistant["role"]) == ("system", "user", "assistant")
        assert user["content"].endswith("?")
        assert len(assistant["content"]) >= 50
        assert example["meta"]["synthetic"] is True
        assert example["meta"]["source"].startswith("sample/")
    events = json.loads(buddy("events", "--json", env=env).stdout)["events"]
    made = [e for e in events if e["type"] == "training.SyntheticExampleGenerated"]
    assert len(made) == summary["synthesized"]
    assert made[0]["stream_id"].startswith("synthetic-")
    assert made[0]["payload"]["model_version"] == "llamacpp:gemma-3-270m-q4_k_m"
