"""A peft LoRA adapter (safetensors) converted into a GGUF LoRA adapter that llama.cpp loads.

Layout, as llama.cpp's own `convert_lora_to_gguf.py` writes it and `llama-adapter.cpp` reads it:
each adapted base tensor `blk.N.attn_q.weight` gets two tensors, `blk.N.attn_q.weight.lora_a`
(peft's lora_A, torch shape (rank, in), so ggml ne = [in, rank]) and `....lora_b` (peft's
lora_B, torch shape (out, rank), ne = [rank, out]), neither transposed; llama.cpp scales their
product by adapter.lora.alpha / rank, which is peft's scaling. Gemma 3's linear weights are
written to GGUF unpermuted, so the LoRA factors need no reordering either."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from training.errors import TrainingFailed

log = logging.getLogger(__name__)

ARCHITECTURE = "gemma3"
HF_ARCHITECTURES = frozenset({"Gemma3ForCausalLM"})
SOURCE_SHA256_KEY = "buddy.adapter.source_sha256"
RANK_KEY = "buddy.adapter.rank"
_WEIGHTS = "adapter_model.safetensors"
_CONFIG = "adapter_config.json"
_PEFT_PREFIX = "base_model.model."
_PEFT_NAME = re.compile(r"^(?P<module>.+)\.lora_(?P<part>[AB])\.weight$")
_LAYER = re.compile(r"\.layers\.(\d+)\.")


def convert_adapter(adapter_dir: Path, out_path: Path, *, base_dir: Path | None = None) -> Path:
    """Write `adapter_dir`'s peft LoRA as a GGUF LoRA adapter at `out_path`; returns `out_path`.

    `base_dir` (the HF base the adapter was trained on) is optional: when given, its config
    checks the architecture and the layer count; without it the layer count comes from the
    adapter's own tensor names. The file is written aside and renamed, so `out_path` is either
    the previous file or the complete new one, never half written."""
    import gguf

    started = time.perf_counter()
    config = _read_json(adapter_dir / _CONFIG, "adapter config")
    alpha = _alpha(config)
    weights_path = adapter_dir / _WEIGHTS
    tensors = _load_tensors(weights_path)
    pairs = _pair_up(tensors)
    n_blocks = _block_count(pairs, base_dir)
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.GEMMA3, n_blocks)

    writer_items: list[tuple[str, Any]] = []
    ranks: set[int] = set()
    for module, (lora_a, lora_b) in sorted(pairs.items()):
        target = names.get_name(f"{module}.weight", try_suffixes=(".weight",))
        if target is None:
            raise TrainingFailed(
                f"adapter tensor {module!r} has no {ARCHITECTURE} GGUF name "
                "(only the model's linear layers can be converted)"
            )
        if target.startswith("token_embd"):
            raise TrainingFailed("adapters on the token embeddings are not supported")
        if lora_a.ndim != 2 or lora_b.ndim != 2 or lora_a.shape[0] != lora_b.shape[1]:
            raise TrainingFailed(
                f"adapter tensor {module!r} has mismatched LoRA shapes "
                f"A {tuple(lora_a.shape)}, B {tuple(lora_b.shape)}"
            )
        ranks.add(int(lora_a.shape[0]))
        writer_items.append((f"{target}.lora_a", lora_a))
        writer_items.append((f"{target}.lora_b", lora_b))

    partial = out_path.with_name(out_path.name + ".partial")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(partial, arch=ARCHITECTURE)
    written = False
    try:
        writer.add_type(gguf.GGUFType.ADAPTER)
        writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
        writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, alpha)
        writer.add_string(SOURCE_SHA256_KEY, file_sha256(weights_path))
        if len(ranks) == 1:
            writer.add_uint32(RANK_KEY, ranks.pop())
        for name, array in writer_items:
            writer.add_tensor(name, array)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        written = True
    except (OSError, ValueError) as error:
        raise TrainingFailed(f"cannot write the GGUF adapter {out_path}: {error}") from error
    finally:
        writer.close()
        if not written:
            partial.unlink(missing_ok=True)
    os.replace(partial, out_path)
    log.info(
        "converted %s (%d LoRA pairs) into %s in %.2f s",
        adapter_dir, len(pairs), out_path, time.perf_counter() - started,
    )  # fmt: skip
    return out_path


def _read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise TrainingFailed(f"cannot read the {what} {path}: {error}") from error
    if not isinstance(data, dict):
        raise TrainingFailed(f"the {what} {path} is not a JSON object")
    return data


def _alpha(config: Mapping[str, Any]) -> float:
    """The alpha llama.cpp needs so that its alpha / rank equals peft's scaling."""
    if config.get("peft_type", "LORA") != "LORA":
        raise TrainingFailed(f"not a LoRA adapter: peft_type {config.get('peft_type')!r}")
    if config.get("use_dora"):
        raise TrainingFailed("DoRA adapters cannot be served by llama.cpp")
    if config.get("alpha_pattern"):
        raise TrainingFailed("per-module LoRA alphas (alpha_pattern) cannot be expressed in GGUF")
    if config.get("fan_in_fan_out"):
        raise TrainingFailed("fan_in_fan_out adapters are not supported")
    try:
        alpha = float(config["lora_alpha"])
    except (KeyError, TypeError, ValueError) as error:
        raise TrainingFailed(f"the adapter config has no usable lora_alpha: {error}") from error
    if config.get("use_rslora"):
        # peft scales by alpha / sqrt(rank); llama.cpp by alpha / rank.
        if config.get("rank_pattern"):
            raise TrainingFailed("rsLoRA with per-module ranks cannot be expressed in GGUF")
        alpha *= math.sqrt(float(config["r"]))
    if not math.isfinite(alpha) or alpha <= 0:
        raise TrainingFailed(f"the adapter's lora_alpha {alpha} is not a positive number")
    return alpha


def _load_tensors(path: Path) -> dict[str, Any]:
    """peft's tensors as float32 numpy arrays, by name."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        loaded = load_file(str(path), device="cpu")
    except (OSError, SafetensorError, ValueError) as error:
        raise TrainingFailed(f"cannot read the adapter weights {path}: {error}") from error
    if not loaded:
        raise TrainingFailed(f"the adapter weights {path} hold no tensors")
    return {name: tensor.float().contiguous().numpy() for name, tensor in loaded.items()}


def _pair_up(tensors: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    """{HF module weight name without `.weight`: (lora_A, lora_B)} for every adapted module."""
    halves: dict[str, dict[str, Any]] = {}
    for name, array in tensors.items():
        match = _PEFT_NAME.match(name)
        if match is None or not name.startswith(_PEFT_PREFIX):
            raise TrainingFailed(
                f"unexpected tensor {name!r} in the adapter: only LoRA A/B weights "
                "(base_model.model.<module>.lora_A.weight / .lora_B.weight) can be converted"
            )
        module = match["module"][len(_PEFT_PREFIX) :]
        halves.setdefault(module, {})[match["part"]] = array
    missing = sorted(module for module, parts in halves.items() if set(parts) != {"A", "B"})
    if missing:
        raise TrainingFailed(f"adapter modules without both LoRA halves: {missing[:5]}")
    return {module: (parts["A"], parts["B"]) for module, parts in halves.items()}


def _block_count(pairs: Mapping[str, object], base_dir: Path | None) -> int:
    used = [int(match[1]) for module in pairs if (match := _LAYER.search(f"{module}."))]
    needed = max(used, default=-1) + 1
    if base_dir is None:
        return needed
    config = _read_json(base_dir / "config.json", "base model config")
    config = config.get("text_config", config) if "num_hidden_layers" not in config else config
    architectures = set(config.get("architectures") or [])
    if architectures and not architectures & HF_ARCHITECTURES:
        raise TrainingFailed(
            f"the base model in {base_dir} is {sorted(architectures)}, "
            f"not one of {sorted(HF_ARCHITECTURES)}"
        )
    layers = int(config.get("num_hidden_layers", needed))
    if needed > layers:
        raise TrainingFailed(f"the adapter adapts layer {needed - 1}; the base has {layers} layers")
    return layers


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
