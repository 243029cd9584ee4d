"""Checks a GGUF LoRA adapter before the server loads it: headers first, then a child process.

llama.cpp validates an adapter only partly, and some bad files take the whole process down
(a segmentation fault, not an exception). So `validate_adapter` reads both GGUF headers here
(type, architecture, tensor names and shapes against the base, finite values) and then loads
base + adapter in a throwaway child process (`python -m adapters.llm.adapter_probe MODEL
ADAPTER`) that generates a few tokens; only an adapter that survives both is served.

The parent side needs only the standard library, `gguf` and the header scan next door;
llama_cpp is imported in the child alone, never in the process that validates."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import signal
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import gguf

from adapters.llm.gguf_header import GGUFHeader, TensorInfo, read_header
from domain.errors import AdapterRejected, ModelUnavailable

log = logging.getLogger(__name__)

PROBE_PROMPT = "Question: What is the capital of France?\nAnswer:"
PROBE_TOKENS = 4
_STDERR_TAIL = 600  # characters of the child's stderr quoted in a rejection
_FLOAT_TYPES = {
    gguf.GGMLQuantizationType.F32, gguf.GGMLQuantizationType.F16, gguf.GGMLQuantizationType.BF16,
}  # fmt: skip


async def validate_adapter(
    model_path: Path, adapter_path: Path, *, timeout_s: float = 120.0
) -> None:
    """Return if llama.cpp can serve `adapter_path` on `model_path`; else raise AdapterRejected.

    Raises ModelUnavailable when the base model itself cannot be read (not the adapter's fault)."""
    started = time.perf_counter()
    problem = await asyncio.to_thread(header_problem, model_path, adapter_path)
    if problem is not None:
        raise AdapterRejected(adapter_path, problem)
    result = await probe_in_child(model_path, adapter_path, timeout_s=timeout_s)
    log.info(
        "adapter %s passed (generated %r) in %.1f s",
        adapter_path, result.get("text"), time.perf_counter() - started,
    )  # fmt: skip


def header_problem(model_path: Path, adapter_path: Path) -> str | None:
    """Why the adapter's GGUF header does not fit the base model's, or None when it does."""
    if not adapter_path.is_file():
        return "the adapter file does not exist"
    try:
        base = read_header(model_path)
    except (OSError, ValueError) as error:
        raise ModelUnavailable(f"cannot read the base model {model_path}: {error}") from error
    try:
        header = read_header(adapter_path)
    except (OSError, ValueError) as error:
        return f"not a readable GGUF file ({_short(str(error))})"
    if (kind := header.string("general.type")) != "adapter":
        return f"general.type is {kind!r}, not 'adapter' (is this a model rather than an adapter?)"
    if (adapter_type := header.string(gguf.Keys.Adapter.TYPE)) != "lora":
        return f"adapter.type is {adapter_type!r}, not 'lora'"
    arch, base_arch = header.string("general.architecture"), base.string("general.architecture")
    if arch != base_arch:
        return f"the adapter is for architecture {arch!r}, the base model is {base_arch!r}"
    alpha = header.metadata.get(gguf.Keys.Adapter.LORA_ALPHA)
    if isinstance(alpha, float) and not math.isfinite(alpha):
        return f"adapter.lora.alpha is {alpha}"
    if (needed := _data_end(header)) > header.file_size:
        return f"the file is truncated: {header.file_size} bytes, its tensors need {needed}"
    try:  # the full parse, values included: cheap now that it is known to be a small adapter
        adapter = gguf.GGUFReader(adapter_path)
    except Exception as error:  # any parse failure of an untrusted file is a rejection
        return f"not a readable GGUF file ({type(error).__name__}: {_short(str(error))})"
    return _tensor_problem(adapter, base.tensors)


def _data_end(header: GGUFHeader) -> int:
    """Where the last tensor's data ends, by the header's own account."""
    end = header.data_start
    for info in header.tensors.values():
        try:
            block, size = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType(info.ggml_type)]
        except (KeyError, ValueError):
            continue  # an unknown type: the full parse reports it
        end = max(end, header.data_start + info.offset + math.prod(info.dims) // block * size)
    return end


def _tensor_problem(adapter: gguf.GGUFReader, base: Mapping[str, TensorInfo]) -> str | None:
    pairs: dict[str, dict[str, Any]] = {}
    for tensor in adapter.tensors:
        name = tensor.name
        if name.endswith((".lora_a", ".lora_b")):
            pairs.setdefault(name[: -len(".lora_a")], {})[name[-1]] = tensor
        elif not name.endswith("_norm.weight"):  # llama.cpp skips norm vectors; nothing else
            return f"tensor {name!r} is neither .lora_a nor .lora_b"
    if not pairs:
        return "the adapter holds no LoRA tensors"
    for name, parts in sorted(pairs.items()):
        if set(parts) != {"a", "b"}:
            return f"tensor {name!r} lacks its lora_{'b' if 'a' in parts else 'a'} half"
        target = base.get(name)
        if target is None:
            return f"tensor {name!r} does not exist in the base model (wrong base model?)"
        a, b = parts["a"], parts["b"]
        problem = _shape_problem(name, list(target.dims), a, b)
        if problem is None:
            problem = _value_problem(a) or _value_problem(b)
        if problem is not None:
            return problem
    return None


def _shape_problem(name: str, base_ne: list[int], a: Any, b: Any) -> str | None:
    """llama.cpp's rule in ggml order (ne): A is [in, rank], B is [rank, out], base [in, out]."""
    a_ne, b_ne = [int(n) for n in a.shape], [int(n) for n in b.shape]
    if len(a_ne) != 2 or len(b_ne) != 2 or len(base_ne) != 2:
        return f"tensor {name!r}: LoRA halves and base must be matrices"
    if name.endswith("token_embd.weight"):  # A and B flipped for embeddings (llm_build_inp_embd)
        fits = base_ne[0] == b_ne[1] and base_ne[1] == a_ne[1]
    else:
        fits = base_ne[0] == a_ne[0] and base_ne[1] == b_ne[1] and a_ne[1] == b_ne[0]
    if not fits:
        return (
            f"tensor {name!r}: lora_a {a_ne} and lora_b {b_ne} do not fit the base's "
            f"{base_ne} (wrong base model?)"
        )
    return None


def _value_problem(tensor: Any) -> str | None:
    if tensor.tensor_type not in _FLOAT_TYPES:
        return f"tensor {tensor.name!r} has unsupported type {tensor.tensor_type.name}"
    import numpy as np  # gguf's own dependency

    values = tensor.data
    if tensor.tensor_type == gguf.GGMLQuantizationType.BF16:
        values = (values.view(np.uint16).astype(np.uint32) << 16).view(np.float32)
    if not bool(np.isfinite(values).all()):
        return f"tensor {tensor.name!r} holds NaN or infinite values"
    return None


async def probe_in_child(
    model_path: Path, adapter_path: Path, *, timeout_s: float = 120.0
) -> dict[str, Any]:
    """Load base + adapter in a child process and generate a few tokens; its JSON report.

    Raises AdapterRejected when the child fails, crashes (the signal is named), hangs past
    `timeout_s` (it is killed) or reports nothing."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "adapters.llm.adapter_probe", str(model_path), str(adapter_path),
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env=_child_env(),
    )  # fmt: skip
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout_s)
    except TimeoutError:
        raise AdapterRejected(
            adapter_path, f"the test load did not finish within {timeout_s:g} s (killed)"
        ) from None
    finally:
        if process.returncode is None:  # timed out or cancelled: never leave it running
            process.kill()
            await process.wait()
    report = _last_json_line(stdout.decode(errors="replace"))
    tail = _short(stderr.decode(errors="replace"), _STDERR_TAIL, tail=True)
    code = process.returncode
    if code is not None and code < 0:
        reason = f"the test load crashed with {_signal_name(-code)}"
    elif report is not None and not report.get("ok"):  # its own words: no stderr needed
        raise AdapterRejected(adapter_path, f"llama.cpp refused it: {report.get('error')}")
    elif code != 0:
        reason = f"the test load exited with status {code}"
    elif report is None:
        reason = "the test load reported nothing"
    else:
        return report
    raise AdapterRejected(adapter_path, f"{reason}; stderr: {tail}" if tail else reason)


def _child_env() -> dict[str, str]:
    """The parent's environment, with this checkout importable wherever the child starts."""
    root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return env


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _last_json_line(text: str) -> dict[str, Any] | None:
    for line in reversed(text.splitlines()):
        if line.startswith("{"):
            try:
                value = json.loads(line)
            except ValueError:
                continue
            return value if isinstance(value, dict) else None
    return None


def _short(text: str, limit: int = 200, *, tail: bool = False) -> str:
    text = " | ".join(line.strip() for line in text.strip().splitlines() if line.strip())
    if len(text) <= limit:
        return text
    return "..." + text[-limit:] if tail else text[:limit] + "..."


def _probe(model_path: str, adapter_path: str) -> dict[str, Any]:
    """In the child: load base + adapter, check the logits are finite, generate a few tokens."""
    import numpy as np
    from llama_cpp import Llama

    started = time.perf_counter()
    errors = _capture_native_logs()
    try:
        llama = Llama(
            model_path=model_path, lora_path=adapter_path, n_ctx=256,
            n_threads=max(1, min(4, os.cpu_count() or 1)), verbose=False,
        )  # fmt: skip
    except (ValueError, RuntimeError) as error:
        return {"ok": False, "error": "; ".join([str(error), *errors[-3:]])}
    # llama-cpp-python tests the adapter handle with `is None`, but a failed load comes back as
    # a NULL pointer object, so it carries on and segfaults at the first decode: check here.
    if not getattr(llama, "_lora_adapter", True):
        return {"ok": False, "error": "; ".join(errors[-3:]) or "the adapter did not load"}
    tokens = llama.tokenize(PROBE_PROMPT.encode())
    llama.eval(tokens)
    if not np.isfinite(llama.scores[llama.n_tokens - 1]).all():
        return {"ok": False, "error": "the adapted model produces NaN or infinite logits"}
    output: Any = llama.create_completion(PROBE_PROMPT, max_tokens=PROBE_TOKENS, temperature=0.0)
    choice = output["choices"][0]
    return {
        "ok": True,
        "text": choice["text"],
        "tokens": output["usage"]["completion_tokens"],
        "seconds": round(time.perf_counter() - started, 3),
    }


_NATIVE_ERROR = 4  # GGML_LOG_LEVEL_ERROR (ggml.h: NONE, DEBUG, INFO, WARN, ERROR, CONT)
_LOG_CALLBACKS: list[Any] = []


def _capture_native_logs() -> list[str]:
    """llama.cpp's error lines, collected (llama-cpp-python's own logger drops them) and echoed
    to stderr so that a crash's stderr tail says what went wrong last."""
    import ctypes

    import llama_cpp

    errors: list[str] = []

    @llama_cpp.llama_log_callback  # type: ignore[untyped-decorator]
    def collect(level: int, text: bytes, user_data: Any) -> None:
        if level == _NATIVE_ERROR:
            line = text.decode(errors="replace").strip()
            errors.append(line)
            print(line, file=sys.stderr, flush=True)

    _LOG_CALLBACKS.append(collect)  # the C side keeps a pointer: keep the callback alive
    llama_cpp.llama_log_set(collect, ctypes.c_void_p(0))
    return errors


def _main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(
            "usage: python -m adapters.llm.adapter_probe MODEL.gguf ADAPTER.gguf", file=sys.stderr
        )
        return 2
    report = _probe(argv[0], argv[1])
    print(json.dumps(report), flush=True)
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
