"""Base weights in Hugging Face format, de-quantised once from the served GGUF and cached.

The trainer needs float weights; the embedded model ships only as a Q4_K_M GGUF. transformers'
`gguf_file=` loader de-quantises it (slow: minutes), so the result is cached as safetensors
next to a marker naming the GGUF's size, and later runs load the cache (seconds)."""

from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path
from typing import Any

from training.errors import TrainingFailed

log = logging.getLogger(__name__)

_MARKER = "buddy-dequantised.json"


def dequantised_base(gguf_path: Path, cache_dir: Path) -> Path:
    """The directory of HF weights (safetensors + tokenizer) for `gguf_path`, built on first use."""
    if not gguf_path.is_file():
        raise TrainingFailed(f"base model {gguf_path} does not exist")
    target = cache_dir / gguf_path.stem
    source_id = {"gguf": gguf_path.name, "size": gguf_path.stat().st_size}
    marker = target / _MARKER
    if marker.is_file() and json.loads(marker.read_text()).get("source") == source_id:
        return target
    started = time.perf_counter()
    staging = cache_dir / f".{gguf_path.stem}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        _convert(gguf_path, staging)
    except (OSError, ValueError, RuntimeError, KeyError) as error:
        shutil.rmtree(staging, ignore_errors=True)
        raise TrainingFailed(f"cannot de-quantise {gguf_path}: {error}") from error
    seconds = time.perf_counter() - started
    (staging / _MARKER).write_text(json.dumps({"source": source_id, "seconds": seconds}))
    # Written aside and renamed, so a run killed midway never leaves a half cache that looks done.
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    log.info("de-quantised %s in %.0f s into %s", gguf_path.name, seconds, target)
    return target


def _convert(gguf_path: Path, out_dir: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = str(gguf_path.parent), gguf_path.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model: Any = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    # The weights are plain floats now, but the GGUF quantizer marker stays on the model and
    # save_pretrained refuses "quantized, not serializable" models until it is cleared.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
