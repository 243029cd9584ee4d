"""Answers on the sample knowledge base with the real embedded model: the README's question gets
the rollback command with its source, the p99 question cites the deployment guide first, a
question the docs cannot answer is declined, and the answer benchmark runs on a small slice."""

from __future__ import annotations

import json

import pytest

from tests.e2e.test_cli import buddy

pytestmark = pytest.mark.slow
# `env` (tests/e2e/conftest.py): a data dir with the sample knowledge base ingested, per module.


def ask(env: dict[str, str], question: str) -> dict[str, object]:
    done = buddy("ask", question, "--json", env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    answer: dict[str, object] = json.loads(done.stdout)
    return answer


def paths(answer: dict[str, object]) -> list[str]:
    return [str(source["path"]) for source in answer["sources"]]  # type: ignore[attr-defined]


def test_the_readme_question_gets_the_rollback_command_and_its_source(env: dict[str, str]) -> None:
    answer = ask(env, "how do I roll back a production deploy?")
    assert "make rollback ENV=production" in str(answer["answer"])
    assert paths(answer)[0].endswith("docs/deployment.md")
    assert answer["answer_mode"] in ("generated", "extractive")
    assert "backward migration" not in str(answer["answer"])


def test_the_p99_question_cites_the_deployment_guide_first(env: dict[str, str]) -> None:
    answer = ask(env, "what's the p99 latency threshold for rolling back?")
    assert paths(answer)[0].endswith("docs/deployment.md")
    assert "p99 latency doubles" in str(answer["answer"])


def test_a_question_the_docs_cannot_answer_is_declined_with_no_sources(
    env: dict[str, str],
) -> None:
    answer = ask(env, "how do I reset my VPN password?")
    assert answer["answer_mode"] == "declined"
    assert answer["sources"] == []
    assert "couldn't find" in str(answer["answer"])


def test_the_readme_command_prints_the_checked_answer_on_the_terminal(
    env: dict[str, str],
) -> None:
    done = buddy("ask", "how do I roll back a production deploy?", env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "make rollback ENV=production" in done.stdout
    assert "docs/deployment.md" in done.stdout


def test_the_answer_benchmark_reports_every_metric_and_baseline_on_a_slice(
    env: dict[str, str],
) -> None:
    done = buddy(
        "bench", "answers", "--set", "sample-kb", "--split", "test", "--limit", "3", "--json",
        env=env, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)["answers"]
    half = result["sets"]["sample-kb"]["test"]
    assert set(half) >= {"buddy", "raw_model", "retrieval"}
    for system in ("buddy", "raw_model", "retrieval"):
        assert half[system]["questions"] == 3
        assert set(half[system]) >= {
            "fact_rate", "source_at_1", "source_at_k", "abstain_rate", "false_abstain_rate",
            "supported_sentence_rate", "length_p50", "length_p95", "latency_ms_p50",
            "latency_ms_p95",
        }  # fmt: skip
    assert half["buddy"]["supported_sentence_rate"] >= half["raw_model"]["supported_sentence_rate"]
    assert result["model_version"] == "llamacpp:gemma-3-270m-q4_k_m"
