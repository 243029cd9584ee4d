"""Ingest the shipped sample knowledge base and search it with the real embedding model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.e2e.test_cli import buddy

QUESTION = "how do I roll back a production deploy?"


@pytest.mark.slow
def test_ingest_and_search_the_sample_kb_on_sqlite(
    clean_env: dict[str, str], sqlite_url: str, project_root: Path, tmp_path: Path
) -> None:
    env = {**clean_env, "DATABASE_URL": sqlite_url}
    kb = tmp_path / "kb"
    shutil.copytree(project_root / "data" / "sample-kb", kb)

    ingested = buddy("ingest", str(kb), "--source-name", "sample", "--json", env=env, timeout=600)
    assert ingested.returncode == 0, ingested.stderr
    report = json.loads(ingested.stdout)
    assert report["documents"]["added"] == 7
    assert report["skipped"] == {"unsupported": 1}  # the LICENSE file

    queries = tmp_path / "queries.txt"
    queries.write_text(f"{QUESTION}\nwhat does the on-call engineer do?\n")
    batch = buddy("search", "--batch", str(queries), "--k", "3", "--json", env=env, timeout=600)
    assert batch.returncode == 0, batch.stderr
    answers = json.loads(batch.stdout)["batch"]
    assert [a["query"] for a in answers] == [QUESTION, "what does the on-call engineer do?"]
    assert answers[0]["results"][0]["source"] == "sample/docs/deployment.md"
    assert answers[1]["results"][0]["source"] == "sample/docs/on-call.txt"
    first = answers[0]["results"][0]
    assert set(first) >= {"source", "chunk_id", "score", "text", "license"}
    assert first["license"] == "Apache-2.0"

    (kb / "docs" / "on-call.txt").unlink()
    (kb / "docs" / "deployment.md").write_text("# Deploying\n\nUse the deploy button.\n")
    again = json.loads(buddy("ingest", str(kb), "--source-name", "sample", "--json", env=env,
                             timeout=600).stdout)  # fmt: skip
    assert again["documents"] == {"added": 0, "changed": 1, "unchanged": 5, "removed": 1}

    [source] = json.loads(buddy("sources", "--json", env=env).stdout)["sources"]
    assert (source["name"], source["license"], source["documents"]) == ("sample", "Apache-2.0", 6)


@pytest.mark.slow
def test_ingest_and_search_on_the_embedded_defaults(
    clean_env: dict[str, str], project_root: Path
) -> None:
    kb = str(project_root / "data" / "sample-kb")
    ingested = buddy("ingest", kb, env=clean_env, timeout=600)
    assert ingested.returncode == 0, ingested.stderr
    assert "7 added" in ingested.stdout
    found = buddy("search", QUESTION, "--json", env=clean_env, timeout=600)
    assert found.returncode == 0, found.stderr
    results = json.loads(found.stdout)["results"]
    assert results[0]["source"].endswith("docs/deployment.md")
    assert "rollback" in results[0]["text"].lower()


def test_search_needs_a_query_or_a_batch(clean_env: dict[str, str], sqlite_url: str) -> None:
    done = buddy("search", env={**clean_env, "DATABASE_URL": sqlite_url})
    assert done.returncode == 1
    assert done.stderr.startswith("error: give either a query or --batch FILE")
