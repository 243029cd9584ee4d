"""The Ollama backend against a wire-level fake of Ollama's HTTP API."""

from __future__ import annotations

import asyncio
import socket

import pytest

from adapters.llm.ollama_model import OllamaModel
from domain.errors import GenerationFailed, ModelUnavailable
from domain.language import ChatMessage, GenerationRequest, GenerationUsage
from tests.adapter.fake_ollama import FakeOllama, Script, running

REQUEST = GenerationRequest((ChatMessage("user", "how do I roll back?"),), max_tokens=64)


async def collect(model: OllamaModel, usage: GenerationUsage | None = None) -> str:
    return "".join([piece async for piece in model.stream(REQUEST, usage or GenerationUsage())])


async def test_streams_the_answer_and_reports_usage() -> None:
    async with running(FakeOllama({"gemma3:270m": Script()})) as fake:
        model = OllamaModel(fake.host, "gemma3:270m", keep_alive="5m")
        usage = GenerationUsage()
        assert await collect(model, usage) == "Run make rollback [1]."
        assert (usage.prompt_tokens, usage.completion_tokens) == (42, 4)
    [sent] = fake.requests
    assert sent["path"] == "/api/chat"
    assert sent["stream"] is True
    assert sent["keep_alive"] == "5m"
    assert sent["messages"] == [{"role": "user", "content": "how do I roll back?"}]
    assert sent["options"] == {"temperature": 0.2, "num_predict": 64}
    assert model.model_version == "ollama:gemma3:270m"


async def test_a_missing_model_names_the_model_and_the_host() -> None:
    async with running(FakeOllama({"other": Script()})) as fake:
        model = OllamaModel(fake.host, "gemma3:270m")
        with pytest.raises(ModelUnavailable, match=r"'gemma3:270m' is not on the Ollama server"):
            await collect(model)


async def test_no_server_is_model_unavailable() -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    model = OllamaModel(f"http://127.0.0.1:{port}", "gemma3:270m")
    with pytest.raises(ModelUnavailable, match="no Ollama server answers"):
        await collect(model)


async def test_a_slow_server_times_out_as_a_generation_failure() -> None:
    async with running(FakeOllama({"slow": Script(delay_s=2.0)})) as fake:
        model = OllamaModel(fake.host, "slow", timeout_s=0.3)
        with pytest.raises(GenerationFailed, match="timed out"):
            await collect(model)


async def test_cancelling_the_consumer_stops_the_stream() -> None:
    async with running(FakeOllama({"slow": Script(parts=["a"] * 50, delay_s=0.05)})) as fake:
        model = OllamaModel(fake.host, "slow")
        received: list[str] = []
        three_in = asyncio.Event()

        async def consume() -> None:
            async for piece in model.stream(REQUEST, GenerationUsage()):
                received.append(piece)
                if len(received) == 3:
                    three_in.set()

        task = asyncio.create_task(consume())
        await asyncio.wait_for(three_in.wait(), timeout=10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert 3 <= len(received) < 50
