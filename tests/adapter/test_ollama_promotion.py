"""Serving a version on Ollama, against the wire-level fake: the adapter is uploaded once as a blob,
a `buddy-<version>` model is created from the base plus the adapter, warmed, and then served;
earlier tags stay for rollback, and an adapter Ollama refuses is an AdapterRejected."""

from __future__ import annotations

import hashlib
import socket
from pathlib import Path

import pytest

from adapters.llm.ollama_model import OllamaModel
from adapters.llm.ollama_promotion import OllamaPromotion, tag_for
from bot.serve.model_serving import ModelServing, ollama_loader
from bot.settings import Settings
from domain.errors import AdapterRejected, ModelUnavailable
from domain.events import NewEvent
from domain.language import ChatMessage, GenerationRequest, GenerationUsage
from domain.model_registry import ModelRegistry
from tests.adapter.fake_ollama import FakeOllama, Script, running
from tests.fakes import InMemoryEventStore

BASE = "gemma3:270m"
REQUEST = GenerationRequest((ChatMessage("user", "hi"),), max_tokens=8)


def adapter(folder: Path, version: str, content: bytes | None = None) -> Path:
    path = folder / "adapters" / version / "adapter.gguf"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content if content is not None else b"GGUF" + version.encode() * 64)
    return path


async def answer(model: OllamaModel) -> str:
    return "".join([piece async for piece in model.stream(REQUEST, GenerationUsage())])


async def test_publish_uploads_creates_warms_and_the_tag_answers(tmp_path: Path) -> None:
    gguf = adapter(tmp_path, "v1")
    digest = "sha256:" + hashlib.sha256(gguf.read_bytes()).hexdigest()
    async with running(FakeOllama({BASE: Script()})) as fake:
        promotion = OllamaPromotion(fake.host, BASE, keep_alive="7m")
        tag = await promotion.publish("v1", gguf)
        assert tag == tag_for("v1") == "buddy-v1"
        assert fake.blobs[digest] == gguf.read_bytes()
        assert fake.created["buddy-v1"]["from"] == BASE
        assert fake.created["buddy-v1"]["adapters"] == {"adapter.gguf": digest}
        assert fake.loaded == ["buddy-v1"]  # warmed before anything is switched to it
        paths = [(r["path"], r.get("method")) for r in fake.requests]
        assert paths == [
            ("/api/show", None), (f"/api/blobs/{digest}", "HEAD"),
            (f"/api/blobs/{digest}", "POST"), ("/api/create", None), ("/api/generate", None),
        ]  # fmt: skip
        warm = fake.requests[-1]
        assert (warm["prompt"], warm["keep_alive"]) == ("", "7m")
        assert await answer(OllamaModel(fake.host, tag)) == "buddy-v1 says hi"

        fake.requests.clear()  # publishing again: the tag holds this adapter, only a warm-up
        assert await promotion.publish("v1", gguf) == "buddy-v1"
        assert [r["path"] for r in fake.requests] == ["/api/show", "/api/generate"]


async def test_a_tag_with_another_adapter_is_made_again(tmp_path: Path) -> None:
    async with running(FakeOllama({BASE: Script()})) as fake:
        promotion = OllamaPromotion(fake.host, BASE)
        await promotion.publish("v1", adapter(tmp_path / "old", "v1"))
        fresh = adapter(tmp_path / "new", "v1", b"GGUF another run")
        await promotion.publish("v1", fresh)
        digest = "sha256:" + hashlib.sha256(fresh.read_bytes()).hexdigest()
        assert fake.created["buddy-v1"]["adapters"] == {"adapter.gguf": digest}


async def test_an_adapter_ollama_refuses_is_rejected(tmp_path: Path) -> None:
    async with running(FakeOllama({BASE: Script()})) as fake:
        promotion = OllamaPromotion(fake.host, BASE)
        with pytest.raises(AdapterRejected, match="cannot create buddy-v1: invalid file magic"):
            await promotion.publish("v1", adapter(tmp_path, "v1", b"not a gguf"))
        with pytest.raises(AdapterRejected, match="missing"):
            await promotion.publish("v2", tmp_path / "nothing.gguf")
        assert "buddy-v1" not in fake.created
    async with running(FakeOllama({})) as fake:  # the base is not on the server
        with pytest.raises(AdapterRejected, match="model 'gemma3:270m' not found"):
            await OllamaPromotion(fake.host, BASE).publish("v1", adapter(tmp_path, "v1"))


async def test_no_server_is_model_unavailable(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    promotion = OllamaPromotion(f"http://127.0.0.1:{port}", BASE)
    with pytest.raises(ModelUnavailable, match="no Ollama server answers"):
        await promotion.publish("v1", adapter(tmp_path, "v1"))


async def test_serving_switches_tags_with_the_registry_and_keeps_old_ones(tmp_path: Path) -> None:
    store = InMemoryEventStore()
    for version in ("v1", "v2"):
        gguf = adapter(tmp_path, version, b"GGUF " + version.encode())
        await store.append(f"model-{version}", None, [NewEvent("training.TrainingFinished", {
            "version": version, "base": BASE, "dataset_hash": "d", "config": {}, "metrics": {},
            "adapter": {"dir": f"adapters/{version}/adapter",
                        "gguf": f"adapters/{version}/adapter.gguf",
                        "sha256": hashlib.sha256(gguf.read_bytes()).hexdigest()},
        })])  # fmt: skip
    registry = ModelRegistry(store)
    async with running(FakeOllama({BASE: Script()})) as fake:
        settings = Settings(BUDDY_DATA_DIR=tmp_path, BUDDY_LLM="ollama", OLLAMA_HOST=fake.host)
        serving = ModelServing(registry, ollama_loader(settings))
        model = await serving.model()
        assert model.model_version == "ollama:gemma3:270m"
        await registry.promote("v1")
        await serving.reload()
        assert model.model_version == "ollama:buddy-v1"
        usage = GenerationUsage()
        text = "".join([p async for p in model.stream(REQUEST, usage)])
        assert (text, usage.model_version) == ("buddy-v1 says hi", "ollama:buddy-v1")
        await registry.promote("v2")
        await serving.reload()
        await registry.rollback()
        await serving.reload()  # back to v1: its tag is still there, only warmed again
        assert model.model_version == "ollama:buddy-v1"
        assert sorted(fake.created) == ["buddy-v1", "buddy-v2"]
        assert [r["path"] for r in fake.requests].count("/api/create") == 2
