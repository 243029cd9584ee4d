"""Ollama over HTTP with the `ollama` async client: streaming chat, keep-alive, clear errors."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import httpx
import ollama

from domain.errors import GenerationFailed, ModelUnavailable
from domain.language import GenerationRequest, GenerationUsage

log = logging.getLogger(__name__)


class OllamaModel:
    def __init__(
        self, host: str, model: str, *, keep_alive: str = "10m", timeout_s: float = 120.0
    ) -> None:
        self._host = host
        self._model = model
        self._keep_alive = keep_alive
        self._client = ollama.AsyncClient(host=host, timeout=timeout_s)

    @property
    def model_version(self) -> str:
        return f"ollama:{self._model}"

    @property
    def adapter_hash(self) -> str | None:
        return None  # Ollama serves adapters as models of their own: the name says it

    async def stream(
        self, request: GenerationRequest, usage: GenerationUsage
    ) -> AsyncIterator[str]:
        messages = [{"role": m.role, "content": m.content} for m in request.messages]
        options = {"temperature": request.temperature, "num_predict": request.max_tokens}
        if request.stop:
            options["stop"] = list(request.stop)  # type: ignore[assignment]
        try:
            parts = await self._client.chat(
                self._model, messages, stream=True, options=options, keep_alive=self._keep_alive
            )
            async for part in parts:
                if part.message.content:
                    yield part.message.content
                if part.done:
                    usage.prompt_tokens = part.prompt_eval_count or 0
                    usage.completion_tokens = part.eval_count or 0
        except ollama.ResponseError as error:
            if error.status_code == 404:
                raise ModelUnavailable(
                    f"model {self._model!r} is not on the Ollama server at {self._host} "
                    f"(ollama pull {self._model})"
                ) from error
            raise GenerationFailed(f"Ollama at {self._host} answered: {error.error}") from error
        except httpx.TimeoutException as error:
            raise GenerationFailed(f"Ollama at {self._host} timed out") from error
        except (httpx.ConnectError, ConnectionError) as error:
            raise ModelUnavailable(f"no Ollama server answers at {self._host}") from error
