"""The model registry: lineage folded from training events, promotion and rollback as a stack,
optimistic concurrency on the registry stream, and the automatic rollback rule."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from domain.auto_rollback import AutoRollback
from domain.errors import ConcurrencyError
from domain.events import NewEvent
from domain.model_registry import (
    REGISTRY_STREAM,
    ModelRegistry,
    RatingCounts,
    RegistryRefused,
    ServedModel,
    registry_version_of,
    should_roll_back,
)
from scheduler.rollback_job import rollback_watch
from tests.fakes import InMemoryEventStore


async def trained(
    store: InMemoryEventStore, version: str, *, evaluated: bool | None = True
) -> None:
    stream = f"model-{version}"
    config = {"rank": 8, "alpha": 16}
    await store.append(stream, None, [NewEvent("training.TrainingStarted", {
        "version": version, "base": "gemma-3-270m", "dataset_hash": f"data-{version}",
        "config": config, "milestone": 100, "resumed_from_step": None,
    })])  # fmt: skip
    await store.append(stream, None, [NewEvent("training.TrainingFinished", {
        "version": version, "base": "gemma-3-270m", "dataset_hash": f"data-{version}",
        "config": config, "metrics": {"train_loss": 1.5, "steps": 12},
        "adapter": {"dir": f"adapters/{version}/adapter",
                    "gguf": f"adapters/{version}/adapter.gguf", "sha256": f"sha-{version}"},
    })])  # fmt: skip
    if evaluated is not None:
        await store.append(stream, None, [NewEvent("training.ModelEvaluated", {
            "version": version, "served_version": "base", "metrics": {"eval_loss": 1.2},
            "passed": evaluated, "reasons": [] if evaluated else ["no gain"],
        })])  # fmt: skip


async def failed(store: InMemoryEventStore, version: str) -> None:
    stream = f"model-{version}"
    await store.append(stream, None, [
        NewEvent("training.TrainingStarted", {"version": version, "base": "gemma-3-270m",
                                              "dataset_hash": "d", "config": {}}),
        NewEvent("training.TrainingFailed", {"version": version, "dataset_hash": "d",
                                             "config": {}, "error": "out of memory"}),
    ])  # fmt: skip


async def test_versions_carry_their_lineage_and_the_base_is_served_first() -> None:
    store = InMemoryEventStore()
    registry = ModelRegistry(store)
    assert await registry.next_version() == "v1"
    await trained(store, "v1")
    await trained(store, "v2", evaluated=False)
    await failed(store, "v3")
    state = await registry.state()
    assert state.served == "base"
    assert state.previous is None
    assert state.served_adapter_dir(Path("/data")) is None
    v1, v2, v3 = state.versions["v1"], state.versions["v2"], state.versions["v3"]
    assert (v1.status, v2.status, v3.status) == ("passed", "gate_failed", "failed")
    assert v1.base == "gemma-3-270m"
    assert v1.dataset_hash == "data-v1"
    assert v1.config == {"rank": 8, "alpha": 16}
    assert v1.metrics == {"train_loss": 1.5, "steps": 12}
    assert v1.adapter is not None
    assert v1.adapter.sha256 == "sha-v1"
    assert v1.evaluation is not None
    assert v1.evaluation["metrics"] == {"eval_loss": 1.2}
    assert v1.created_at is not None
    assert v3.error == "out of memory"
    assert await registry.next_version() == "v4"


async def test_promotions_stack_and_rollbacks_return_to_what_was_served_before() -> None:
    store = InMemoryEventStore()
    registry = ModelRegistry(store)
    await trained(store, "v1")
    await trained(store, "v2")
    promoted = await registry.promote("v1", reason="gate")
    assert promoted == {"version": "v1", "previous": "base", "reason": "gate",
                        "adapter_sha256": "sha-v1", "gguf": "adapters/v1/adapter.gguf"}  # fmt: skip
    await registry.promote("v2", by="alice")
    assert await registry.served_model() == ServedModel("v2", "adapters/v2/adapter.gguf", "sha-v2")
    state = await registry.state()
    assert state.served_adapter_dir(Path("/data")) == Path("/data/adapters/v2/adapter")
    assert [entry.version for entry in state.stack] == ["base", "v1", "v2"]

    rolled = await registry.rollback(details={"by": "bob"})
    assert rolled == {"from_version": "v2", "to_version": "v1", "reason": "admin",
                      "details": {"by": "bob"}}  # fmt: skip
    assert (await registry.served_model()).version == "v1"
    assert (await registry.rollback())["to_version"] == "base"
    assert await registry.served_model() == ServedModel("base")
    with pytest.raises(RegistryRefused, match="nothing to roll back: base is served"):
        await registry.rollback()

    events = [e for e in store.events if e.stream_id == REGISTRY_STREAM]
    assert [e.type for e in events] == ["training.ModelPromoted"] * 2 + [
        "training.ModelRolledBack"] * 2  # fmt: skip
    assert [e.version for e in events] == [0, 1, 2, 3]  # appended at the expected version
    assert events[1].metadata == {"by": "alice"}


async def test_promote_refuses_unknown_failed_unfinished_and_served_versions() -> None:
    store = InMemoryEventStore()
    registry = ModelRegistry(store)
    await trained(store, "v1", evaluated=False)  # the gate said no: an admin may still promote
    await failed(store, "v2")
    await store.append("model-v3", None, [NewEvent("training.TrainingStarted", {
        "version": "v3", "base": "b", "dataset_hash": "d", "config": {}})])  # fmt: skip
    with pytest.raises(RegistryRefused, match=r"unknown model version 'v9' \(known: base, v1"):
        await registry.promote("v9")
    with pytest.raises(RegistryRefused, match="v2 cannot be served: its training failed: out of"):
        await registry.promote("v2")
    with pytest.raises(RegistryRefused, match="v3 cannot be served: it has not finished"):
        await registry.promote("v3")
    with pytest.raises(RegistryRefused, match="base is already served"):
        await registry.promote("base")
    await registry.promote("v1")
    with pytest.raises(RegistryRefused, match="v1 is already served"):
        await registry.promote("v1")
    assert (await registry.promote("base"))["previous"] == "v1"  # the base is a choice too
    assert (await registry.rollback())["to_version"] == "v1"


async def test_a_lost_race_is_retried_once_on_the_new_state() -> None:
    store = InMemoryEventStore()
    await trained(store, "v1")
    await trained(store, "v2")
    registry = ModelRegistry(store)
    racer = ModelRegistry(store)
    real_append = store.append
    raced = []

    async def append_after_a_rival(stream: str, expected: Any, events: Any, **kw: Any) -> Any:
        if stream == REGISTRY_STREAM and not raced:
            raced.append(True)
            await racer.promote("v2")  # lands between our read and our append
        return await real_append(stream, expected, events, **kw)

    store.append = append_after_a_rival  # type: ignore[method-assign]
    promoted = await registry.promote("v1")
    assert promoted["previous"] == "v2"  # decided again on the state the rival left
    state = await registry.state()
    assert [entry.version for entry in state.stack] == ["base", "v2", "v1"]


async def test_a_second_lost_race_is_an_error() -> None:
    store = InMemoryEventStore()
    await trained(store, "v1")
    registry = ModelRegistry(store)

    async def always_behind(stream: str, expected: Any, events: Any, **kw: Any) -> Any:
        raise ConcurrencyError(stream, expected, expected + 1)

    store.append = always_behind  # type: ignore[method-assign]
    with pytest.raises(ConcurrencyError):
        await registry.promote("v1")


def test_answers_model_labels_name_their_registry_version() -> None:
    assert registry_version_of("llamacpp:gemma-3-270m-q4_k_m") == "base"
    assert registry_version_of("llamacpp:gemma-3-270m-q4_k_m+v12") == "v12"
    assert registry_version_of("ollama:gemma3:270m") == "base"
    assert registry_version_of("ollama:buddy-v3") == "v3"
    assert registry_version_of("ollama:buddy-v3:latest") == "v3"


@pytest.mark.parametrize(
    ("current", "previous", "expected"),
    [
        (RatingCounts(10, 10), RatingCounts(18, 2), True),  # 50% vs 10% negative, 20 ratings
        (RatingCounts(9, 10), RatingCounts(18, 2), False),  # too few ratings to judge
        (RatingCounts(15, 5), RatingCounts(18, 2), False),  # 25% vs 10%: within the margin
        (RatingCounts(14, 6), RatingCounts(18, 2), True),  # 30% vs 10%: beyond it
        (RatingCounts(20, 0), RatingCounts(0, 0), False),
        (RatingCounts(0, 20), RatingCounts(0, 0), True),  # no earlier ratings count as 0%
    ],
)
def test_should_roll_back(current: RatingCounts, previous: RatingCounts, expected: bool) -> None:
    assert should_roll_back(current, previous, margin=0.15, min_ratings=20) is expected


async def test_auto_rollback_rolls_back_on_bad_live_ratings_with_the_figures() -> None:
    store = InMemoryEventStore()
    registry = ModelRegistry(store)
    await trained(store, "v1")
    counts = {"base": RatingCounts(18, 2), "v1": RatingCounts(12, 8)}

    async def ratings(version: str) -> RatingCounts:
        return counts[version]

    watch = AutoRollback(registry, ratings, margin=0.15, min_ratings=20)
    assert await watch() is None  # base served: nothing to roll back to
    await registry.promote("v1", reason="gate")
    counts["v1"] = RatingCounts(10, 5)
    assert await rollback_watch(watch) is None  # 15 ratings: not enough yet
    counts["v1"] = RatingCounts(12, 8)
    assert await rollback_watch(watch) == "base"
    [event] = [e for e in store.events if e.type == "training.ModelRolledBack"]
    assert event.payload["reason"] == "live_ratings"
    assert event.payload["details"] == {
        "current": {"version": "v1", "positive": 12, "negative": 8, "negative_rate": 0.4},
        "previous": {"version": "base", "positive": 18, "negative": 2, "negative_rate": 0.1},
        "margin": 0.15, "min_ratings": 20,
    }  # fmt: skip
    assert await watch() is None  # back on the base: nothing more to do
