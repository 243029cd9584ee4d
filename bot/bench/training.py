"""`buddy bench training`: Buddy's trainer against a plain peft + torch loop on the same data, and
how long promoting an adapter takes on a running server (convert, check, load, swap).

Both training sides use the same base, LoRA settings, tokenized examples, batch order and step
count, each timed from its first step after a one-step warm-up run of the process. The ratio
Buddy/plain is the figure that matters (target >= 0.8x): it measures what checkpoints, progress
and lineage cost."""

from __future__ import annotations

import asyncio
import math
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from bot.settings import Settings

STEPS = 8
EXAMPLES = 16
TARGET_RATIO = 0.8
SYSTEM = "You are Buddy, a helpful assistant for a software team."


def bench_examples(count: int = EXAMPLES) -> list[dict[str, Any]]:
    """Questions and answers about the sample knowledge base, varied in length."""
    topics = ["deploys", "rollbacks", "the staging cluster", "on-call", "the CI pipeline",
              "database migrations", "feature flags", "secrets rotation"]  # fmt: skip
    examples = []
    for i in range(count):
        topic = topics[i % len(topics)]
        detail = " Then check the dashboard and tell the channel." * (1 + i % 3)
        question = f"How do I handle {topic} (case {i})?"
        answer = f"For {topic}, follow the runbook step by step.{detail}"
        messages = [("system", SYSTEM), ("user", question), ("assistant", answer)]
        examples.append({"messages": [{"role": r, "content": c} for r, c in messages]})
    return examples


def plain_loop(base_dir: Path, examples: list[dict[str, Any]], config: Any) -> dict[str, float]:
    """The reference: peft's get_peft_model and a bare AdamW loop, nothing else; the same batches
    (Buddy's batch order is a pure function of seed and step), timed from the first step."""
    import torch
    from peft import LoraConfig, get_peft_model

    from training.dataset import as_examples, collate, tokenize_all
    from training.lora import _batch_for_step, load_base

    torch.manual_seed(config.seed)
    model, tokenizer = load_base(base_dir)
    tokenized = tokenize_all(tokenizer, as_examples(examples), config.max_length)
    model = get_peft_model(model, LoraConfig(
        r=config.rank, lora_alpha=config.alpha, lora_dropout=config.dropout,
        target_modules=list(config.target_modules), task_type="CAUSAL_LM",
    ))  # fmt: skip
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=config.learning_rate)
    per_epoch = math.ceil(len(tokenized) / config.batch_size)
    pad = tokenizer.pad_token_id or 0
    model.train()
    tokens, seconds = 0, 0.0
    for step in range(config.max_steps):
        started = time.perf_counter()
        batch = collate(_batch_for_step(tokenized, config, step, per_epoch), pad)
        batch = {k: v.to(model.device) for k, v in batch.items()}
        loss = model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, config.max_grad_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        seconds += time.perf_counter() - started
        tokens += int(batch["attention_mask"].sum().item())
    return {"tokens": tokens, "seconds": seconds, "tokens_per_s": tokens / seconds}


def buddy_trainer(
    base_dir: Path, examples: list[dict[str, Any]], config: Any, out: Path
) -> dict[str, Any]:
    """Buddy's train_lora: checkpoints, progress and all, timed from its first step."""
    from training.lora import train_lora

    result = train_lora(base_dir, examples, out / "run", config, resume=False)
    return {"tokens": result.tokens, "tokens_per_s": result.tokens_per_s,
            "train_loss": result.train_loss, "adapter_dir": result.adapter_dir}  # fmt: skip


def warm_up(base_dir: Path, examples: list[dict[str, Any]], config: Any, out: Path) -> None:
    from training.lora import train_lora

    train_lora(base_dir, examples, out / "warm-up", replace(config, max_steps=1), resume=False)


async def bench_training(settings: Settings) -> dict[str, Any]:
    from bot.operations.training import base_weights, train_config

    base, base_dir, served_gguf = await base_weights(settings)
    config = replace(
        train_config(settings, STEPS), batch_size=4, max_length=128, checkpoint_every=4
    )
    examples = bench_examples()
    with tempfile.TemporaryDirectory(prefix="buddy-bench-train-") as scratch:
        out = Path(scratch)
        # A one-step run first warms the process (kernels, allocator, file cache) for both sides.
        await asyncio.to_thread(warm_up, base_dir, examples, config, out)
        plain = await asyncio.to_thread(plain_loop, base_dir, examples, config)
        buddy = await asyncio.to_thread(buddy_trainer, base_dir, examples, config, out)
        result: dict[str, Any] = {
            "base": base, "steps": STEPS, "batch_size": config.batch_size,
            "buddy_tokens_per_s": round(buddy["tokens_per_s"], 1),
            "plain_tokens_per_s": round(plain["tokens_per_s"], 1),
            "ratio": round(buddy["tokens_per_s"] / plain["tokens_per_s"], 3),
            "target_ratio": TARGET_RATIO,
        }  # fmt: skip
        if served_gguf is not None and settings.train_base is None:
            result["swap"] = await bench_swap(served_gguf, buddy["adapter_dir"], out)
    return result


async def bench_swap(served_gguf: Path, adapter_dir: Path, out: Path) -> dict[str, Any]:
    """Convert, check in a child process, load beside the served model, swap: each timed."""
    from adapters.llm.adapter_probe import validate_adapter
    from adapters.llm.llamacpp_model import LlamaCppModel
    from adapters.llm.swappable import SwappableModel
    from training.gguf_adapter import convert_adapter

    timings: dict[str, Any] = {}
    started = time.perf_counter()
    gguf = await asyncio.to_thread(convert_adapter, adapter_dir, out / "adapter.gguf")
    timings["convert_s"] = round(time.perf_counter() - started, 3)
    started = time.perf_counter()
    await validate_adapter(served_gguf, gguf)
    timings["check_s"] = round(time.perf_counter() - started, 3)
    served = SwappableModel(LlamaCppModel(served_gguf))
    started = time.perf_counter()
    candidate = await asyncio.to_thread(
        LlamaCppModel, served_gguf, lora_path=gguf, version_label="bench"
    )
    timings["load_s"] = round(time.perf_counter() - started, 3)
    started = time.perf_counter()
    await served.swap(candidate)
    timings["swap_ms"] = round((time.perf_counter() - started) * 1000, 3)
    timings["served_after"] = served.model_version
    await served.close()
    return timings


def print_training(result: dict[str, Any]) -> None:
    print(f"training ({result['base']}, {result['steps']} steps of {result['batch_size']}):")
    print(f"  Buddy {result['buddy_tokens_per_s']} tok/s, plain peft+torch "
          f"{result['plain_tokens_per_s']} tok/s: {result['ratio']}x "
          f"(target >= {result['target_ratio']}x)")  # fmt: skip
    if "swap" in result:
        swap = result["swap"]
        print(f"  promotion: convert {swap['convert_s']} s, child check {swap['check_s']} s, "
              f"load {swap['load_s']} s, swap {swap['swap_ms']} ms")  # fmt: skip
