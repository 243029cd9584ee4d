"""Adapters are checked before llama.cpp serves them: bad ones are refused, the server lives on.

Real llama.cpp and the real Gemma 3 270M GGUF throughout. The well-formed adapter is random
(small values) with the base's own shapes, converted by the trainer's converter: what matters
here is that it loads, not what it learned (tests/training/test_gguf_adapter.py trains one)."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from adapters.llm.adapter_probe import probe_in_child, validate_adapter
from adapters.llm.gguf_header import read_header
from adapters.llm.llamacpp_model import LlamaCppModel
from domain.errors import AdapterRejected
from domain.language import ChatMessage, GenerationRequest, GenerationUsage

pytestmark = pytest.mark.slow

MODULES = {"attn_q": "q_proj", "attn_v": "v_proj"}
RANK = 4


@pytest.fixture(scope="module")
def served(gemma_gguf: Path) -> LlamaCppModel:
    """The model the parent process serves while adapters are being checked."""
    return LlamaCppModel(gemma_gguf, context_tokens=256)


def _peft_adapter(out_dir: Path, shapes: dict[str, tuple[int, int]], layers: int) -> Path:
    """A peft-layout LoRA adapter dir with small random values: shapes[module] = (out, in)."""
    from safetensors.numpy import save_file

    rng = np.random.default_rng(0)
    tensors: dict[str, np.ndarray] = {}
    for layer in range(layers):
        for module, (rows, cols) in shapes.items():
            prefix = f"base_model.model.model.layers.{layer}.self_attn.{module}"
            tensors[f"{prefix}.lora_A.weight"] = rng.normal(0, 0.02, (RANK, cols)).astype("f4")
            tensors[f"{prefix}.lora_B.weight"] = rng.normal(0, 0.02, (rows, RANK)).astype("f4")
    out_dir.mkdir(parents=True)
    save_file(tensors, str(out_dir / "adapter_model.safetensors"))
    config = f'{{"peft_type": "LORA", "r": {RANK}, "lora_alpha": {2 * RANK}}}'
    (out_dir / "adapter_config.json").write_text(config)
    return out_dir


@pytest.fixture(scope="module")
def good_adapter(gemma_gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from training.gguf_adapter import convert_adapter

    base = {name: info.dims for name, info in read_header(gemma_gguf).tensors.items()}
    layers = sum(1 for name in base if name.endswith(".attn_q.weight"))
    # ggml order is [in, out]; peft wants (out, in)
    shapes = {peft: (base[f"blk.0.{ggml}.weight"][1], base[f"blk.0.{ggml}.weight"][0])
              for ggml, peft in MODULES.items()}  # fmt: skip
    root = tmp_path_factory.mktemp("good")
    return convert_adapter(_peft_adapter(root / "peft", shapes, layers), root / "adapter.gguf")


@pytest.fixture(scope="module")
def wrong_base_adapter(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real 2-step adapter of the tiny Gemma (hidden size 64; the served Gemma has 640)."""
    from training.gguf_adapter import convert_adapter
    from training.lora import TrainConfig, train_lora
    from training.tiny import make_tiny_gemma

    root = tmp_path_factory.mktemp("tiny")
    base = make_tiny_gemma(root / "base")
    example = {"messages": [{"role": "user", "content": "Where is the build?"},
                            {"role": "assistant", "content": "In the CI pipeline."}]}  # fmt: skip
    config = TrainConfig(max_steps=2, batch_size=2, max_length=64)
    result = train_lora(base, [example, example], root / "run", config)
    return convert_adapter(result.adapter_dir, root / "adapter.gguf", base_dir=base)


def _bad_file(case: str, tmp_path: Path, gemma: Path, good: Path, wrong_base: Path) -> Path:
    if case == "corrupt":
        path = tmp_path / "corrupt.gguf"
        path.write_bytes(os.urandom(64 * 1024))
        return path
    if case == "truncated":
        path = tmp_path / "truncated.gguf"
        data = good.read_bytes()
        path.write_bytes(data[: len(data) // 2])
        return path
    if case == "not-an-adapter":
        return gemma
    if case == "wrong-base":
        return wrong_base
    if case == "missing":
        return tmp_path / "nowhere.gguf"
    raise AssertionError(case)


REASONS = {
    "corrupt": "not a readable GGUF file",
    "truncated": r"the file is truncated: \d+ bytes, its tensors need \d+",
    "not-an-adapter": "general.type is .* not 'adapter'",
    "wrong-base": r"do not fit the base's \[640, .*wrong base model",
    "missing": "does not exist",
}


async def _answers(model: LlamaCppModel) -> str:
    request = GenerationRequest((ChatMessage("user", "What is 2 + 2?"),), max_tokens=3)
    return "".join([piece async for piece in model.stream(request, GenerationUsage())])


async def test_a_well_formed_adapter_passes_both_checks(
    gemma_gguf: Path, good_adapter: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="adapters.llm.adapter_probe")
    started = time.perf_counter()
    await validate_adapter(gemma_gguf, good_adapter)
    print(f"validated a good adapter in {time.perf_counter() - started:.2f} s")
    assert "passed (generated '" in caplog.text


@pytest.mark.parametrize("case", list(REASONS))
async def test_bad_adapters_are_refused_and_the_parent_keeps_serving(
    case: str, tmp_path: Path, gemma_gguf: Path, good_adapter: Path, wrong_base_adapter: Path,
    served: LlamaCppModel,
) -> None:  # fmt: skip
    bad = _bad_file(case, tmp_path, gemma_gguf, good_adapter, wrong_base_adapter)
    started = time.perf_counter()
    with pytest.raises(AdapterRejected, match=REASONS[case]) as refused:
        await validate_adapter(gemma_gguf, bad)
    print(f"{case}: {refused.value.reason} ({time.perf_counter() - started:.2f} s)")
    assert await _answers(served)


LLAMA_CPP_REASONS = {
    "corrupt": "invalid magic characters",
    "truncated": "data is not within the file bounds",
    "not-an-adapter": "expect general.type to be 'adapter', but got: model",
    "wrong-base": r"tensor 'blk\.0\.attn_.*' has incorrect shape",
}


@pytest.mark.parametrize("case", list(LLAMA_CPP_REASONS))
async def test_the_child_load_alone_also_refuses_them(
    case: str, tmp_path: Path, gemma_gguf: Path, good_adapter: Path, wrong_base_adapter: Path,
    served: LlamaCppModel,
) -> None:  # fmt: skip
    """The second line of defence, without the header checks: llama.cpp itself refuses, in the
    child (which stops before the first decode, where llama-cpp-python would segfault on the
    adapter it failed to load), and the parent is untouched."""
    bad = _bad_file(case, tmp_path, gemma_gguf, good_adapter, wrong_base_adapter)
    with pytest.raises(AdapterRejected, match=f"llama.cpp refused it: .*{LLAMA_CPP_REASONS[case]}"):
        await probe_in_child(gemma_gguf, bad)
    assert await _answers(served)


async def test_a_test_load_past_its_timeout_is_killed_and_refused(
    gemma_gguf: Path, good_adapter: Path
) -> None:
    with pytest.raises(AdapterRejected, match=r"did not finish within 0.05 s \(killed\)"):
        await validate_adapter(gemma_gguf, good_adapter, timeout_s=0.05)


async def test_a_crashing_test_load_is_refused_with_its_signal_named(
    gemma_gguf: Path, good_adapter: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A stand-in interpreter that dies the way llama.cpp does on some bad files.
    crasher = tmp_path / "python"
    crasher.write_text("#!/bin/sh\necho 'ggml: something went wrong' >&2\nkill -SEGV $$\n")
    crasher.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(crasher))
    with pytest.raises(AdapterRejected, match="crashed with SIGSEGV; stderr: ggml: something"):
        await probe_in_child(gemma_gguf, good_adapter)


async def test_a_cancelled_check_leaves_no_child_behind(
    gemma_gguf: Path, good_adapter: Path
) -> None:
    task = asyncio.create_task(probe_in_child(gemma_gguf, good_adapter))
    await asyncio.sleep(0.3)
    children_before = _children()
    assert children_before, "the child process should be running"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not (_children() & children_before)


def _children() -> set[int]:
    import psutil

    return {child.pid for child in psutil.Process().children() if child.is_running()}
