"""`/metrics` and `/readyz` of `buddy serve`, in process (see test_serve_in_process.py): three
questions over the fake Slack, then the scrape parsed with prometheus-client's own parser; and
readiness going 503, with the database named, when the database file goes away."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from tests.adapter.slack.harness import ALICE, event_body, mention, reaction, signed
from tests.e2e.test_serve_in_process import served_in_process

QUESTIONS = ["how do I roll back production?", "how to undo a migration?", "rollback command?"]


def samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Sample name -> (labels, value) for every sample in a scrape."""
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return found


def total(found: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str) -> float:
    return sum(
        value
        for got, value in found.get(name, [])
        if all(got.get(key) == wanted for key, wanted in labels.items())
    )


async def test_metrics_count_answers_and_readyz_follows_the_database(tmp_path: Path) -> None:
    async with served_in_process(tmp_path) as served:
        base, fake, slack, database = served.base, served.slack, served.service, served.database
        async with aiohttp.ClientSession() as session:
            ready, body = await get_json(session, f"{base}/readyz")
            assert ready == 200, body
            assert body["ready"] is True
            assert set(body["checks"]) == {"database", "model", "sandbox", "platforms"}
            assert body["checks"]["model"] == {"ok": True, "detail": "scripted:1"}

            for n, question in enumerate(QUESTIONS):
                ts = f"17000000{n:02d}.000100"
                sent = event_body(mention(question, ts), f"Ev{n:08d}X")
                headers = {**signed(sent), "Content-Type": "application/json"}
                async with session.post(f"{base}/slack/events", data=sent, headers=headers) as r:
                    assert r.status == 200
            await fake.wait_for(
                lambda: len([m for m in fake.messages if m.get("bot_id")]) >= len(QUESTIONS),
                60,
                "three answers",
            )

            # The asker rates the first answer.
            first = next(m for m in fake.messages if m.get("bot_id"))
            sent = event_body(reaction("+1", "C1", first["ts"], user=ALICE), "EvRATE0001")
            headers = {**signed(sent), "Content-Type": "application/json"}
            async with session.post(f"{base}/slack/events", data=sent, headers=headers) as r:
                assert r.status == 200

            for _ in range(100):  # the rating is stored once the event is handled
                async with session.get(f"{base}/metrics") as scraped:
                    assert scraped.status == 200
                    assert scraped.headers["Content-Type"].startswith("text/plain")
                    found = samples(await scraped.text())
                if total(found, "buddy_ratings_total"):
                    break
                await asyncio.sleep(0.1)
            assert total(found, "buddy_ratings_total", model_version="scripted:1") == 1
            answered = len(QUESTIONS)
            assert total(found, "buddy_questions_total") == answered
            assert total(found, "buddy_answers_total", platform=slack.name) == answered
            assert total(found, "buddy_answer_failures_total") == 0
            for histogram in ("buddy_retrieval", "buddy_generation", "buddy_answer"):
                assert total(found, f"{histogram}_seconds_count") == answered, histogram
                assert total(found, f"{histogram}_seconds_bucket", le="+Inf") == answered
            assert total(found, "buddy_model_served", version="scripted:1") == 1
            assert total(found, "buddy_pending_replies") == 0
            assert "buddy_sandbox_runs_total" not in found  # no run yet: no labelled sample
            # A second scrape counts nothing twice.
            async with session.get(f"{base}/metrics") as again:
                assert total(samples(await again.text()), "buddy_answers_total") == answered

            # The database goes away (an unmounted volume): not ready, and the reason says so.
            moved = tmp_path / "moved.db"
            database.rename(moved)
            try:
                status, body = await get_json(session, f"{base}/readyz")
            finally:
                moved.rename(database)
            assert status == 503, body
            assert body["ready"] is False
            assert body["checks"]["database"]["ok"] is False
            assert "missing" in body["checks"]["database"]["reason"]
            assert body["checks"]["model"]["ok"] is True
            async with session.get(f"{base}/healthz") as health:  # alive all the while
                assert health.status == 200
            status, body = await get_json(session, f"{base}/readyz")
            assert status == 200, body


async def get_json(session: aiohttp.ClientSession, url: str) -> tuple[int, Any]:
    async with session.get(url) as response:
        return response.status, await response.json()
