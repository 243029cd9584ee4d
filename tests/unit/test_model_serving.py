"""Serving the registry's version: loaded on first use, swapped when the registry moves, and a
rejected adapter never stops serving (the current model, or the history down to the base)."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import pytest

from bot.serve.model_serving import ModelServing, _check_hash
from domain.errors import AdapterRejected
from domain.events import NewEvent
from domain.model_registry import ModelRegistry, ServedModel
from tests.fakes import InMemoryEventStore
from tests.unit.test_swappable import VersionModel


async def registry_with(*versions: str) -> tuple[InMemoryEventStore, ModelRegistry]:
    store = InMemoryEventStore()
    for version in versions:
        await store.append(f"model-{version}", None, [NewEvent("training.TrainingFinished", {
            "version": version, "base": "b", "dataset_hash": "d", "config": {}, "metrics": {},
            "adapter": {"dir": "x", "gguf": f"adapters/{version}/adapter.gguf", "sha256": "s"},
        })])  # fmt: skip
    return store, ModelRegistry(store)


class Loader:
    def __init__(self, rejected: set[str]) -> None:
        self.rejected = rejected
        self.calls: list[str] = []

    async def __call__(self, served: ServedModel) -> VersionModel:
        self.calls.append(served.version)
        if served.version in self.rejected:
            raise AdapterRejected(served.gguf, "llama.cpp crashed (SIGSEGV)")
        return VersionModel(served.version)


async def test_the_served_version_is_loaded_and_followed() -> None:
    _, registry = await registry_with("v1", "v2")
    await registry.promote("v1")
    loader = Loader(set())
    serving = ModelServing(registry, loader)
    assert await serving.reload() is None  # nothing loaded yet: nothing to swap
    model = await serving.model()
    assert (model.model_version, serving.version) == ("fake:v1", "v1")
    assert await serving.reload() == "v1"  # unchanged: nothing loaded again
    await registry.promote("v2")
    assert await serving.reload() == "v2"
    assert model.model_version == "fake:v2"
    await registry.rollback()
    assert await serving.reload() == "v1"
    assert loader.calls == ["v1", "v2", "v1"]


async def test_a_rejected_adapter_at_start_falls_back_down_the_history(
    caplog: pytest.LogCaptureFixture,
) -> None:
    _, registry = await registry_with("v1", "v2")
    await registry.promote("v1")
    await registry.promote("v2")
    serving = ModelServing(registry, Loader({"v2"}))
    model = await serving.model()
    assert (model.model_version, serving.version) == ("fake:v1", "v1")
    assert "not serving v2" in caplog.text

    everything_bad = ModelServing(registry, Loader({"v1", "v2"}))
    assert (await everything_bad.model()).model_version == "fake:base"


async def test_a_rejected_adapter_on_reload_keeps_serving_the_current_model(
    caplog: pytest.LogCaptureFixture,
) -> None:
    _, registry = await registry_with("v1", "v2")
    loader = Loader({"v2"})
    serving = ModelServing(registry, loader)
    model = await serving.model()
    await registry.promote("v2")
    assert await serving.reload() == "base"
    assert model.model_version == "fake:base"
    assert "not serving v2" in caplog.text
    assert "still serving base" in caplog.text
    assert await serving.reload() == "base"
    assert loader.calls == ["base", "v2"]  # reported once, not probed on every poll
    await registry.promote("v1")
    assert await serving.reload() == "v1"


async def test_the_watcher_swaps_within_its_interval() -> None:
    _, registry = await registry_with("v1")
    serving = ModelServing(registry, Loader(set()))
    model = await serving.model()
    watcher = asyncio.create_task(serving.watch(0.01))
    try:
        await registry.promote("v1")
        for _ in range(100):
            if model.model_version == "fake:v1":
                break
            await asyncio.sleep(0.01)
        assert model.model_version == "fake:v1"
    finally:
        watcher.cancel()


def test_an_adapter_changed_since_training_is_rejected(tmp_path: Path) -> None:
    adapter = tmp_path / "adapter.gguf"
    adapter.write_bytes(b"GGUF and some tensors")
    digest = hashlib.sha256(adapter.read_bytes()).hexdigest()
    assert _check_hash(adapter, digest) == digest
    with pytest.raises(AdapterRejected, match="trained as"):
        _check_hash(adapter, "0" * 64)
    with pytest.raises(AdapterRejected, match="missing"):
        _check_hash(tmp_path / "gone.gguf", digest)
