"""bot.serve.metrics counts the stored events: failures by reason, ratings by the rated answer's
version, sandbox runs by outcome, training runs; each event once, and none stored before start."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

from prometheus_client.parser import text_string_to_metric_families

from bot.serve.metrics import ServeMetrics
from domain.event_types import (
    AdminEvents,
    ConversationEvents,
    FeedbackEvents,
    SandboxEvents,
    TrainingEvents,
)
from domain.events import NewEvent
from tests.fakes import InMemoryEventStore, InMemoryOutbox

C, F, S, T = ConversationEvents, FeedbackEvents, SandboxEvents, TrainingEvents


def scraped(text: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text.decode())
        for sample in family.samples
    }


def given(answer_id: str, version: str) -> NewEvent:
    payload = {"answer_id": answer_id, "thread": "t", "text": "x", "model_version": version,
               "answer_mode": "extractive", "latency_ms": 1200,
               "timings_ms": {"retrieval": 40, "generation": 900}}  # fmt: skip
    return NewEvent(C.ANSWER_GIVEN, payload, schema_version=2)


def run(**result: Any) -> NewEvent:
    base = {"user": "u", "channel": "c", "language": "python", "code": "sealed"}
    return NewEvent(S.SNIPPET_RUN, {**base, **result})


async def test_events_since_start_are_counted_once_by_their_labels() -> None:
    store = InMemoryEventStore()
    served = SimpleNamespace(model_version="v2")

    async def served_model() -> Any:
        return served

    services = SimpleNamespace(store=store, outbox=InMemoryOutbox(store), served_model=served_model)
    await store.append("conversation-old", None, [given("old", "v0")])  # before the start
    metrics = ServeMetrics(cast(Any, services))
    await metrics.start()
    metrics.note_platform("a1", "discord")
    await store.append("conversation-a1", None, [given("a1", "v1")])
    failed = {"answer_id": "a2", "thread": "t", "reason": "timeout", "latency_ms": 30000}
    await store.append("conversation-a2", None, [NewEvent(C.ANSWER_FAILED, failed)])
    rating = {"answer_id": "a1", "user": "u", "value": 1, "by_asker": True}
    await store.append("rating-a1", None, [NewEvent(F.RATING_GIVEN, rating)])
    await store.append("snippet-1", None, [run(exit_code=0), run(exit_code=1)])
    await store.append("snippet-2", None, [run(exit_code=None, timed_out=True)])
    await store.append("snippet-3", None, [run(exit_code=137, oom_killed=True)])
    training = [NewEvent(T.TRAINING_STARTED, {"version": "v3"}),
                NewEvent(T.TRAINING_FAILED, {"version": "v3", "error": "oom"})]  # fmt: skip
    await store.append("training-v3", None, training)
    refused = {"actor": "p", "platform": "slack", "command": "export", "arguments": [],
               "outcome": "refused"}  # fmt: skip
    await store.append(
        "admin-commands", None, [NewEvent(AdminEvents.ADMIN_COMMAND_ISSUED, refused)]
    )

    first = scraped(await metrics.exposition())
    assert first == scraped(await metrics.exposition())  # nothing counted twice

    assert first[("buddy_answers_total", (("mode", "extractive"), ("platform", "discord")))] == 1
    assert first[("buddy_answer_failures_total", (("platform", "other"), ("reason", "timeout")))]
    assert first[("buddy_ratings_total", (("model_version", "v1"), ("value", "1")))] == 1
    for outcome in ("ok", "error", "timeout", "oom"):
        assert first[("buddy_sandbox_runs_total", (("outcome", outcome),))] == 1
    assert first[("buddy_training_runs_total", (("outcome", "started"),))] == 1
    assert first[("buddy_training_runs_total", (("outcome", "failed"),))] == 1
    admin = ("buddy_admin_commands_total", (("command", "export"), ("outcome", "refused")))
    assert first[admin] == 1
    assert first[("buddy_answer_seconds_count", ())] == 2  # the failure's time included
    assert first[("buddy_retrieval_seconds_count", ())] == 1
    assert first[("buddy_generation_seconds_sum", ())] == 0.9
    assert first[("buddy_model_served", (("version", "v2"),))] == 1
    assert first[("buddy_pending_replies", ())] == 0

    served.model_version = "v3"  # a promotion: the old version's sample goes
    swapped = scraped(await metrics.exposition())
    assert ("buddy_model_served", (("version", "v2"),)) not in swapped
    assert swapped[("buddy_model_served", (("version", "v3"),))] == 1
