"""The embedded llama.cpp backend on the real Gemma 3 270M (short generations)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from adapters.llm.llamacpp_model import LlamaCppModel, assemble_model
from domain.language import ChatMessage, GenerationRequest, GenerationUsage

REQUEST = GenerationRequest(
    (ChatMessage("system", "Answer briefly."), ChatMessage("user", "What is 2 + 2?")),
    max_tokens=8,
)


@pytest.fixture(scope="module")
def gemma(tmp_path_factory: pytest.TempPathFactory) -> LlamaCppModel:
    return LlamaCppModel(assemble_model(tmp_path_factory.mktemp("models")), context_tokens=512)


def test_the_model_file_is_assembled_once_and_repaired_when_corrupt(tmp_path: Path) -> None:
    path = assemble_model(tmp_path)
    assert path.stat().st_size > 100_000_000
    modified = path.stat().st_mtime_ns
    assert assemble_model(tmp_path) == path
    assert path.stat().st_mtime_ns == modified  # verified, not rewritten
    with path.open("r+b") as handle:  # a corrupt model file is replaced, not loaded
        handle.write(b"garbage")
    assemble_model(tmp_path)
    assert path.read_bytes()[:4] == b"GGUF"


async def test_a_short_generation_streams_and_counts_tokens(gemma: LlamaCppModel) -> None:
    usage = GenerationUsage()
    pieces = [piece async for piece in gemma.stream(REQUEST, usage)]
    assert pieces
    assert 0 < usage.completion_tokens <= 8
    # The embedded Gemma 270M is a base model (no chat template): it gets a plain-text prompt.
    assert not gemma.chat_format
    assert gemma.prompt_text(REQUEST) == "Answer briefly.\n\nWhat is 2 + 2?"
    assert usage.prompt_tokens == gemma.count_tokens(gemma.prompt_text(REQUEST))
    assert gemma.model_version == "llamacpp:gemma-3-270m-q4_k_m"


async def test_cancelling_the_consumer_stops_generation(gemma: LlamaCppModel) -> None:
    long_request = GenerationRequest(REQUEST.messages, max_tokens=400)
    usage = GenerationUsage()
    first = asyncio.Event()

    async def consume() -> None:
        async for _ in gemma.stream(long_request, usage):
            first.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first.wait(), timeout=60)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert usage.completion_tokens < 400


async def test_stop_sequences_end_the_answer(gemma: LlamaCppModel) -> None:
    request = GenerationRequest(
        (ChatMessage("user", "Count: 1, 2, 3, 4, 5, 6, 7, 8, 9"),), max_tokens=30,
        temperature=0.0, stop=(",",),
    )  # fmt: skip
    text = "".join([piece async for piece in gemma.stream(request, GenerationUsage())])
    assert "," not in text


def test_llama_cpp_native_logs_go_to_logging_not_stderr(
    gemma: LlamaCppModel, capfd: pytest.CaptureFixture[str]
) -> None:
    LlamaCppModel(assemble_model(Path(gemma_models_dir(gemma))), context_tokens=256)
    assert "llama_" not in capfd.readouterr().err


def gemma_models_dir(model: LlamaCppModel) -> str:
    return str(Path(model._llama.model_path).parent)
