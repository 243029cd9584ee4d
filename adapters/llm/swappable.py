"""A language model that can be replaced while it serves: each answer is written start to finish by
the model current when it started, new answers go to the new model, and a replaced model is closed
once the last answer streaming from it ends. No request fails because of a swap."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from domain.language import GenerationRequest, GenerationUsage, LanguageModel

log = logging.getLogger(__name__)


@dataclass(eq=False)
class _Slot:
    model: LanguageModel
    in_flight: int = 0
    retired: bool = False
    closed: bool = False


class SwappableModel:
    def __init__(self, model: LanguageModel) -> None:
        self._slot = _Slot(model)
        self._retired: list[_Slot] = []
        self._lock = asyncio.Lock()  # one swap at a time
        self.swaps = 0

    @property
    def current(self) -> LanguageModel:
        return self._slot.model

    @property
    def model_version(self) -> str:
        return self._slot.model.model_version

    @property
    def adapter_hash(self) -> str | None:
        return self._slot.model.adapter_hash

    @property
    def context_tokens(self) -> int | None:
        """The current model's window, or None when it does not say (Ollama)."""
        value = getattr(self._slot.model, "context_tokens", None)
        return int(value) if value is not None else None

    def count_tokens(self, text: str) -> int:
        count = getattr(self._slot.model, "count_tokens", None)
        return int(count(text)) if count is not None else len(text) // 3 + 1

    def prompt_text(self, request: GenerationRequest) -> str:
        render = getattr(self._slot.model, "prompt_text", None)
        if render is not None:
            return str(render(request))
        return "\n\n".join(message.content for message in request.messages)

    @property
    def in_flight(self) -> int:
        """Answers streaming now, on every model still loaded."""
        return self._slot.in_flight + sum(slot.in_flight for slot in self._retired)

    @property
    def loaded(self) -> int:
        """Models loaded now: the current one and the replaced ones still finishing answers."""
        return 1 + len(self._retired)

    async def stream(
        self, request: GenerationRequest, usage: GenerationUsage
    ) -> AsyncIterator[str]:
        slot = self._slot  # pinned: this answer finishes on this model whatever happens
        slot.in_flight += 1
        try:
            model = slot.model
            usage.model_version, usage.adapter_hash = model.model_version, model.adapter_hash
            async for piece in model.stream(request, usage):
                yield piece
            usage.model_version, usage.adapter_hash = model.model_version, model.adapter_hash
        finally:
            slot.in_flight -= 1
            if slot.retired and slot.in_flight == 0:
                await asyncio.shield(self._close(slot))

    async def swap(self, model: LanguageModel) -> LanguageModel:
        """Serve `model` to every answer that starts from now on; returns the replaced model,
        which is closed as soon as no answer streams from it (now, when none does)."""
        async with self._lock:
            old = self._slot
            self._slot = _Slot(model)
            self.swaps += 1
            old.retired = True
            log.info("now serving %s (was %s)", model.model_version, old.model.model_version)
            if old.in_flight == 0:
                await self._close(old)
            else:
                self._retired.append(old)
            return old.model

    async def close(self) -> None:
        """Close the current model (and any replaced one still open)."""
        for slot in [*self._retired, self._slot]:
            await self._close(slot)

    async def _close(self, slot: _Slot) -> None:
        if slot.closed:
            return
        slot.closed = True
        if slot in self._retired:
            self._retired.remove(slot)
        await close_model(slot.model)


async def close_model(model: object) -> None:
    """Release a model: its `close()` if it has one (async, or sync on a worker thread)."""
    close = getattr(model, "close", None)
    if close is None:
        return
    try:
        if inspect.iscoroutinefunction(close):
            await close()
        else:
            result: Any = await asyncio.to_thread(close)
            if inspect.isawaitable(result):
                await result
    except Exception:  # a model that fails to close must not fail the answer that ended
        log.exception("closing %s failed", getattr(model, "model_version", model))
