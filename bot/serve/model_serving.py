"""Serving the registry's version: load base + the served adapter (checked first), keep it behind a
SwappableModel, and swap when the registry moves. An adapter that fails its check is logged and
never served: serving goes on with the model already loaded, or falls back down the promotion
history (to the base at worst) when nothing is loaded yet.

Any replica serves what the registry names: an adapter trained on another replica's disk is
fetched by its sha256 from the shared adapter store (the database) into this data dir first; a
copy that does not hash to what was trained is refused like any other bad adapter."""

from __future__ import annotations

import asyncio
import functools
import importlib.metadata
import json
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

from adapters.llm.llamacpp_model import GgufModel, embedded_model, file_sha256, user_model
from adapters.llm.swappable import SwappableModel
from domain.errors import AdapterRejected, BuddyError, ConfigurationError, ModelUnavailable
from domain.language import LanguageModel
from domain.model_registry import (
    BASE,
    ModelRegistry,
    RatingCounts,
    ServedModel,
    registry_version_of,
)
from domain.ports import AdapterBlobs

if TYPE_CHECKING:
    from adapters.store.conversations import SqlConversationLog
    from bot.settings import Settings

log = logging.getLogger(__name__)

Loader = Callable[[ServedModel], Awaitable[LanguageModel]]


class ModelServing:
    """The served model of this process. `loader` builds a model for a registry entry and raises
    AdapterRejected (or ModelUnavailable) when it must not be served."""

    def __init__(self, registry: ModelRegistry, loader: Loader) -> None:
        self._registry = registry
        self._load = loader
        self._model: SwappableModel | None = None
        self._wanted: ServedModel | None = None  # the registry entry last acted on
        self._serving: ServedModel | None = None  # the entry actually served
        self.version: str | None = None
        self._lock = asyncio.Lock()

    @property
    def loaded(self) -> SwappableModel | None:
        return self._model

    async def model(self) -> SwappableModel:
        """The served model, loaded on first use. Once loaded, returned at once, even while a
        swap is being prepared (/healthz and answers never wait on an adapter's check)."""
        if self._model is not None:
            return self._model
        async with self._lock:
            if self._model is None:
                state = await self._registry.state()
                self._wanted = state.served_model
                model, self._serving = await self._first_servable(list(reversed(state.stack)))
                self.version = self._serving.version
                self._model = SwappableModel(model)
            return self._model

    async def reload(self) -> str | None:
        """Swap to the registry's served version if it moved; the version served after. Nothing
        is loaded by this when no model is loaded yet (the first answer loads it)."""
        async with self._lock:
            if self._model is None:
                return None
            wanted = await self._registry.served_model()
            if wanted in (self._wanted, self._serving):  # e.g. a rollback to what is served
                self._wanted = wanted
                return self.version
            acted_on, self._wanted = self._wanted, wanted  # a rejection is reported once
            try:
                model = await self._load(wanted)
            except (AdapterRejected, ModelUnavailable) as error:
                log.error(
                    "not serving %s: %s; still serving %s", wanted.version, error, self.version
                )
                return self.version
            except BaseException:
                self._wanted = acted_on  # a passing failure (the store, fetching it): retried
                raise
            await self._model.swap(model)
            self._serving, self.version = wanted, wanted.version
            log.warning("now serving model version %s (%s)", wanted.version, model.model_version)
            return self.version

    async def watch(self, interval_s: float) -> None:
        """Poll the registry and swap when the served version changes (`buddy serve`)."""
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.reload()
            except BuddyError as error:  # the store unreachable for a moment: try again later
                log.warning("checking the served model version failed: %s", error)
            except Exception:  # never let the watcher die: serving goes on, the next poll retries
                log.exception("checking the served model version failed")

    async def _first_servable(
        self, candidates: list[ServedModel]
    ) -> tuple[LanguageModel, ServedModel]:
        tried: set[str] = set()
        for served in candidates:
            if served.gguf is None:
                break  # the base: nothing to check
            if served.version in tried:
                continue
            tried.add(served.version)
            try:
                return await self._load(served), served
            except (AdapterRejected, ModelUnavailable) as error:
                log.error("not serving %s: %s; trying what was served before", served.version,
                          error)  # fmt: skip
        return await self._load(ServedModel(BASE)), ServedModel(BASE)


def served_base(settings: Settings) -> GgufModel:
    """The GGUF llama.cpp serves: BUDDY_LLAMACPP_MODEL (checked first), else the embedded
    Gemma 3 270M assembled into the data dir."""
    models_dir = settings.data_dir / "models"
    if settings.llamacpp_model is None:
        return embedded_model(models_dir)
    try:
        return user_model(settings.llamacpp_model.expanduser(), models_dir)
    except ConfigurationError as error:
        raise ConfigurationError(f"BUDDY_LLAMACPP_MODEL: {error}") from error


def llamacpp_loader(settings: Settings, blobs: AdapterBlobs | None = None) -> Loader:
    """Base + LoRA in llama.cpp, the adapter's hash and a child-process check passed first (the
    adapter fetched from `blobs` when this data dir lacks it)."""
    from adapters.llm.llamacpp_model import LlamaCppModel

    async def load(served: ServedModel) -> LanguageModel:
        base = await asyncio.to_thread(served_base, settings)
        if served.gguf is None:
            return await asyncio.to_thread(LlamaCppModel, base.path, label=base.label)
        adapter = await local_adapter(settings.data_dir / served.gguf, served.sha256, blobs)
        await checked_adapter(base.path, adapter, served.sha256)
        build = functools.partial(
            LlamaCppModel, base.path, lora_path=adapter, version_label=served.version,
            label=base.label,
        )  # fmt: skip
        return await asyncio.to_thread(build)

    return load


def ollama_loader(settings: Settings, blobs: AdapterBlobs | None = None) -> Loader:
    """The base tag, or a `buddy-<version>` model created on the Ollama server and warmed."""
    from adapters.llm.ollama_model import OllamaModel
    from adapters.llm.ollama_promotion import OllamaPromotion

    promotion = OllamaPromotion(settings.ollama_host, settings.ollama_model)

    async def load(served: ServedModel) -> LanguageModel:
        if served.gguf is None:
            return OllamaModel(settings.ollama_host, settings.ollama_model)
        adapter = await local_adapter(settings.data_dir / served.gguf, served.sha256, blobs)
        await asyncio.to_thread(_check_hash, adapter, served.sha256)
        tag = await promotion.publish(served.version, adapter)
        return OllamaModel(settings.ollama_host, tag)

    return load


async def local_adapter(adapter: Path, sha256: str | None, blobs: AdapterBlobs | None) -> Path:
    """`adapter` on this disk: fetched by `sha256` from the shared store when it is missing
    (trained on another replica). AdapterRejected when it cannot be had as trained; a file
    already here is checked by the caller, as ever."""
    if blobs is None or not sha256 or await asyncio.to_thread(adapter.is_file):
        return adapter
    from training.adapter_store import fetch_file

    log.info("fetching adapter %s (sha256 %s…) from the shared store", adapter, sha256[:12])
    await fetch_file(blobs, adapter, sha256)
    return adapter


async def checked_adapter(base: Path, adapter: Path, sha256: str | None) -> None:
    """Raise AdapterRejected unless the adapter is the file trained and passes the child-process
    check. A pass is remembered next to the adapter (by hash, base and llama.cpp version), so
    each file is probed once, not on every start."""
    digest = await asyncio.to_thread(_check_hash, adapter, sha256)
    marker = adapter.with_name(adapter.name + ".checked.json")
    key = await asyncio.to_thread(_check_key, base, digest)
    if await asyncio.to_thread(_read_json, marker) == key:
        return
    from adapters.llm.adapter_probe import validate_adapter

    await validate_adapter(base, adapter)
    await asyncio.to_thread(marker.write_text, json.dumps(key), encoding="utf-8")


def _check_key(base: Path, digest: str) -> dict[str, object]:
    """What a passed check holds for: this adapter, this base file, this llama.cpp."""
    return {"sha256": digest, "base": base.name, "base_size": base.stat().st_size,
            "llama_cpp": _llama_cpp_version()}  # fmt: skip


def _check_hash(adapter: Path, expected: str | None) -> str:
    if not adapter.is_file():
        raise AdapterRejected(adapter, "the adapter file is missing")
    found = file_sha256(adapter)
    if expected and found != expected:
        raise AdapterRejected(adapter, f"its sha256 is {found[:12]}…, trained as {expected[:12]}…")
    return found


def _read_json(path: Path) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _llama_cpp_version() -> str:
    try:
        return importlib.metadata.version("llama-cpp-python")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def stats_ratings(conversations: SqlConversationLog) -> Callable[[str], Awaitable[RatingCounts]]:
    """Live ratings per registry version, summed over the answers' model labels."""

    async def ratings(version: str) -> RatingCounts:
        figures = await conversations.stats()
        positive = negative = 0
        for model in figures.models:
            if registry_version_of(model.model_version) == version:
                positive, negative = positive + model.positive, negative + model.negative
        return RatingCounts(positive, negative)

    return ratings
