"""Serving the registry's version on the real llama.cpp and Gemma 3 270M: base + adapter after the
child-process check, labelled with the version; a corrupt adapter is refused while the current
model goes on serving; a replaced model is closed."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import pytest

from adapters.llm.gguf_header import read_header
from adapters.llm.llamacpp_model import LlamaCppModel, assemble_model
from bot.serve.model_serving import ModelServing, llamacpp_loader
from bot.settings import Settings
from domain.events import NewEvent
from domain.language import ChatMessage, GenerationRequest, GenerationUsage
from domain.model_registry import ModelRegistry
from domain.ports import EventStore
from tests.adapter.test_adapter_probe import MODULES, _peft_adapter
from tests.fakes import InMemoryEventStore

pytestmark = pytest.mark.slow
REQUEST = GenerationRequest((ChatMessage("user", "What is 2 + 2?"),), max_tokens=3)


def random_adapter(base: Path, out: Path) -> Path:
    """A LoRA with the base's shapes and small random values, converted like a trained one."""
    from training.gguf_adapter import convert_adapter

    shapes_of = {name: list(info.dims) for name, info in read_header(base).tensors.items()}
    layers = sum(1 for name in shapes_of if name.endswith(".attn_q.weight"))
    shapes = {peft: (shapes_of[f"blk.0.{ggml}.weight"][1], shapes_of[f"blk.0.{ggml}.weight"][0])
              for ggml, peft in MODULES.items()}  # fmt: skip
    return convert_adapter(_peft_adapter(out.parent / "peft", shapes, layers), out)


async def finished(store: EventStore, version: str, gguf_file: Path, root: Path) -> None:
    digest = hashlib.sha256(await asyncio.to_thread(gguf_file.read_bytes)).hexdigest()
    await store.append(f"model-{version}", None, [NewEvent("training.TrainingFinished", {
        "version": version, "base": "gemma-3-270m-q4_k_m", "dataset_hash": "d", "config": {},
        "metrics": {}, "adapter": {"dir": f"adapters/{version}/adapter",
                                   "gguf": str(gguf_file.relative_to(root)), "sha256": digest},
    })])  # fmt: skip


async def answer(model: object, usage: GenerationUsage) -> str:
    return "".join([piece async for piece in model.stream(REQUEST, usage)])  # type: ignore[attr-defined]


async def test_the_served_adapter_is_checked_loaded_labelled_and_swapped(tmp_path: Path) -> None:
    base = assemble_model(tmp_path / "models")
    good = random_adapter(base, tmp_path / "adapters" / "v1" / "adapter.gguf")
    corrupt = tmp_path / "adapters" / "v2" / "adapter.gguf"
    corrupt.parent.mkdir(parents=True)
    corrupt.write_bytes(good.read_bytes()[: good.stat().st_size // 2])  # truncated
    store = InMemoryEventStore()
    await finished(store, "v1", good, tmp_path)
    await finished(store, "v2", corrupt, tmp_path)
    registry = ModelRegistry(store)
    await registry.promote("v1")

    serving = ModelServing(registry, llamacpp_loader(Settings(BUDDY_DATA_DIR=tmp_path)))
    model = await serving.model()
    assert model.model_version == "llamacpp:gemma-3-270m-q4_k_m+v1"
    first = model.current
    assert isinstance(first, LlamaCppModel)
    assert first.adapter_hash == hashlib.sha256(good.read_bytes()).hexdigest()[:16]
    assert good.with_name("adapter.gguf.checked.json").exists()  # probed once, remembered
    usage = GenerationUsage()
    assert await answer(model, usage)
    assert usage.model_version == "llamacpp:gemma-3-270m-q4_k_m+v1"

    await registry.promote("v2")
    assert await serving.reload() == "v1"  # refused: serving goes on with v1
    assert model.current is first
    assert await answer(model, GenerationUsage())

    await registry.rollback()  # v2 -> v1: already served, nothing to load
    await registry.rollback()  # v1 -> base
    assert await serving.reload() == "base"
    assert model.model_version == "llamacpp:gemma-3-270m-q4_k_m"
    assert first.closed  # released: nothing was streaming from it
    assert await answer(model, GenerationUsage())
    await model.close()
