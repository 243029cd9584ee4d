"""The local channel on the real embedded model, on SQLite: ask with sources and stored lineage,
follow-ups in a thread, reactions as ratings, stats, and an interactive chat session."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_cli import BUDDY, buddy

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def events_of(env: dict[str, str], prefix: str) -> list[dict[str, Any]]:
    events = json.loads(buddy("events", "--json", env=env).stdout)["events"]
    return [e for e in events if str(e["type"]).startswith(prefix)]


def test_ask_answers_with_sources_and_stores_the_exchange(env: dict[str, str]) -> None:
    done = buddy("ask", "how do I roll back a production deploy?", "--user", "alice", "--json",
                 env=env, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert set(answer) == {
        "answer_id", "answer", "sources", "model_version", "latency_ms", "answer_mode"
    }  # fmt: skip
    assert answer["answer"].strip()
    assert "You are Buddy" not in answer["answer"]  # the prompt is not echoed back
    assert answer["model_version"] == "llamacpp:gemma-3-270m-q4_k_m"
    assert answer["sources"][0]["path"] == "sample/docs/deployment.md"
    assert answer["sources"][0]["license"] == "Apache-2.0"
    assert answer["latency_ms"] > 0
    assert "llama_" not in done.stderr  # llama.cpp's native logging stays out of the terminal

    asked, given = [
        e
        for e in events_of(env, "conversation.")
        if e["payload"]["answer_id"] == answer["answer_id"]
    ]
    assert asked["type"] == "conversation.QuestionAsked"
    assert "alice" not in json.dumps(asked)
    assert "roll back" not in json.dumps(asked["payload"])  # sealed, not plain
    lineage = given["payload"]
    assert lineage["prompt_version"] == "answer-v2"
    assert lineage["chunks"]
    assert lineage["completion_tokens"] > 0
    assert set(lineage["timings_ms"]) >= {"retrieval", "prompt", "generation"}


def test_follow_up_reactions_and_stats(env: dict[str, str]) -> None:
    first = json.loads(buddy("ask", "how do I deploy to staging?", "--user", "alice", "--json",
                             env=env, timeout=600).stdout)  # fmt: skip
    follow = buddy("ask", "and to production?", "--user", "alice", "--thread",
                   first["answer_id"], "--json", env=env, timeout=600)  # fmt: skip
    assert follow.returncode == 0, follow.stderr
    follow_id = json.loads(follow.stdout)["answer_id"]
    [follow_up] = events_of(env, "conversation.FollowUpAsked")
    assert follow_up["payload"]["follows"] == first["answer_id"]

    before = json.loads(buddy("stats", "--json", env=env).stdout)
    assert buddy("react", first["answer_id"], "👍", "--user", "bob", env=env).returncode == 0
    assert buddy("react", follow_id, ":-1:", "--user", "alice", env=env).returncode == 0
    changed = buddy("react", follow_id, "✅", "--user", "alice", "--json", env=env)
    assert json.loads(changed.stdout)["recorded"] == "feedback.RatingGiven"
    removed = buddy("react", first["answer_id"], "👍", "--user", "bob", "--remove", env=env)
    assert removed.returncode == 0
    unknown = buddy("react", "not-an-answer", "👍", "--user", "bob", env=env)
    assert unknown.returncode == 1
    assert "not an answer" in unknown.stderr

    stats = json.loads(buddy("stats", "--json", env=env).stdout)
    assert set(stats) == {"questions", "follow_ups", "answers", "failures", "ratings",
                          "feedback_rate", "models", "dataset", "answer_modes"}  # fmt: skip
    modes = stats["answer_modes"]
    assert sum(mode["count"] for mode in modes.values()) == stats["answers"]
    assert stats["dataset"] == {"curated_examples": 0, "next_milestone": 100}
    assert stats["questions"] == before["questions"] == before["answers"] + before["failures"]
    assert stats["follow_ups"] == 1
    assert stats["ratings"] == {"positive": 1, "negative": 0, "by_askers": 1}
    [model] = stats["models"]
    assert model["model_version"] == "llamacpp:gemma-3-270m-q4_k_m"
    assert model["positive"] == 1
    assert 0 < stats["feedback_rate"] <= 1


def test_chat_streams_answers_follows_up_and_takes_commands(env: dict[str, str]) -> None:
    script = "\n".join([
        "what does connection refused from the database mean?",
        "how do I check it?",
        "/react 👍",
        "/sources",
        "/stats",
        "/nonsense",
        "/quit",
    ]) + "\n"  # fmt: skip
    done = subprocess.run([BUDDY, "chat", "--user", "carol"], input=script, env=env,
                          capture_output=True, text=True, timeout=600, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.count("buddy> ") == 2
    assert "troubleshooting.rst" in out
    assert "RatingGiven: positive" in out
    assert "questions " in out
    assert "unknown command /nonsense" in out
    follow_ups = events_of(env, "conversation.FollowUpAsked")
    assert len(follow_ups) >= 1


def test_bench_generation_compares_buddy_with_raw_llama_cpp(env: dict[str, str]) -> None:
    done = buddy("bench", "generation", "--runs", "1", "--json", env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)["generation"]
    # Greedy decoding on one prompt: both sides write the same tokens.
    assert result["completion_tokens"] == result["raw_completion_tokens"] > 0
    assert result["prompt_tokens"] > 0
    assert set(result["ratios"]) == {"tokens_per_s", "time_to_first_token"}
    assert all(ratio > 0 for ratio in result["ratios"].values())
    assert result["meets_target"] == (min(result["ratios"].values()) >= result["target"])
    split = result["latency_split_ms"]
    assert set(split) == {"retrieval", "prompt", "generation", "storage", "total"}
    assert split["total"] >= split["generation"] > 0
