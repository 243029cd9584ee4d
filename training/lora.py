"""LoRA fine-tuning with peft and a plain torch loop, resumable from checkpoints.

Why a plain loop rather than transformers' Trainer: the loop is ~40 lines, its checkpoints are
exactly what resuming needs (adapter, optimizer, step, RNG, running metrics), and the batch for
any step is a pure function of (seed, step), so a resumed run sees the batches an uninterrupted
one would have."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import shutil
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from training.checkpoints import latest_checkpoint, load_checkpoint, save_checkpoint
from training.dataset import (
    IGNORE_INDEX,
    ChatExample,
    TokenizedExample,
    as_examples,
    collate,
    tokenize_all,
)
from training.errors import TrainingFailed, TrainingInterrupted

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
LINEAGE_FILE = "buddy-train.json"


@dataclass(frozen=True)
class TrainConfig:
    rank: int = 8
    alpha: int = 16
    dropout: float = 0.05
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")
    epochs: int = 1
    learning_rate: float = 2e-4
    batch_size: int = 4
    max_length: int = 512
    max_steps: int | None = None  # overrides epochs when set
    seed: int = 0
    checkpoint_every: int = 25
    max_grad_norm: float = 1.0


@dataclass(frozen=True)
class TrainResult:
    steps: int
    train_loss: float  # mean batch loss over every step of the run, resumed ones included
    tokens: int  # non-padding tokens seen by this process (not the resumed part)
    tokens_per_s: float
    adapter_dir: Path
    resumed_from_step: int | None


def device_name() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def load_base(base_dir: Path, adapter_dir: Path | None = None) -> tuple[Any, Any]:
    """(model, tokenizer) in float32 on the best device, with an adapter applied if given."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    # peft asks transformers a deprecated question on every load; the user can do nothing about it.
    warnings.filterwarnings(
        "ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning
    )
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # Buddy draws its own progress; theirs floods stderr
    try:
        tokenizer = AutoTokenizer.from_pretrained(base_dir)
        model: Any = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
        if adapter_dir is not None:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, adapter_dir)
    except (OSError, ValueError) as error:
        raise TrainingFailed(f"cannot load base model from {base_dir}: {error}") from error
    return model.to(device_name()), tokenizer


def train_lora(
    base_dir: Path,
    train: Iterable[ChatExample | Mapping[str, Any]],
    out_dir: Path,
    config: TrainConfig | None = None,
    *,
    progress: Progress | None = None,
    resume: bool = True,
    stop: threading.Event | None = None,
) -> TrainResult:
    """Train a LoRA adapter on `train`; the adapter lands in `out_dir/adapter` when done.

    Checkpoints go to `out_dir/checkpoints/step-N` every `checkpoint_every` steps; with
    `resume` the latest one compatible with this config and data is picked up, and an adapter
    this config and data already completed in `out_dir` (a run killed after training, before
    anything else recorded it) is returned as it is. Setting `stop` (from another thread: a
    shutdown) saves a checkpoint at the step reached and raises TrainingInterrupted; the next
    run resumes there."""
    import torch
    from peft import LoraConfig, get_peft_model

    config = config or TrainConfig()
    examples = as_examples(train)
    if not examples:
        raise TrainingFailed("no training examples")
    torch.manual_seed(config.seed)
    model, tokenizer = load_base(base_dir)
    tokenized = tokenize_all(tokenizer, examples, config.max_length)
    lora = LoraConfig(
        r=config.rank, lora_alpha=config.alpha, lora_dropout=config.dropout,
        target_modules=list(config.target_modules), task_type="CAUSAL_LM",
    )  # fmt: skip
    try:
        model = get_peft_model(model, lora)
    except ValueError as error:  # e.g. target modules the base does not have
        raise TrainingFailed(f"cannot apply LoRA to {base_dir}: {error}") from error
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=config.learning_rate)

    steps_per_epoch = math.ceil(len(tokenized) / config.batch_size)
    total = config.max_steps if config.max_steps is not None else config.epochs * steps_per_epoch
    fingerprint = _fingerprint(config, tokenized)
    adapter_dir = out_dir / "adapter"
    if resume and (completed := _completed(adapter_dir, fingerprint, total)) is not None:
        log.info("%s is already trained on this data and config: reusing it", adapter_dir)
        return completed
    checkpoints = out_dir / "checkpoints"
    start, loss_sum, resumed_from = 0, 0.0, None
    found = latest_checkpoint(checkpoints, fingerprint) if resume else None
    if found is not None:
        state = load_checkpoint(found, model, optimizer)
        start, loss_sum, resumed_from = state.step, state.loss_sum, state.step
        log.info("resuming %s from step %d", out_dir, start)
    elif checkpoints.exists():
        shutil.rmtree(checkpoints)  # stale or incompatible: never mix two runs' checkpoints

    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    device = device_name()
    tokens, started = 0, time.perf_counter()
    model.train()
    for step in range(start, total):
        if stop is not None and stop.is_set():
            if step > start:
                save_checkpoint(checkpoints, step, model, optimizer, loss_sum, fingerprint)
            raise TrainingInterrupted(f"stopped at step {step} of {total}; the next run resumes")
        batch = collate(_batch_for_step(tokenized, config, step, steps_per_epoch), pad_id)
        batch = {name: tensor.to(device) for name, tensor in batch.items()}
        loss = answer_loss(model, batch)
        if not torch.isfinite(loss):
            raise TrainingFailed(f"loss became {loss.item()} at step {step + 1}")
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, config.max_grad_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        loss_sum += loss.item()
        tokens += int(batch["attention_mask"].sum().item())
        done = step + 1
        if done % config.checkpoint_every == 0 and done < total:
            save_checkpoint(checkpoints, done, model, optimizer, loss_sum, fingerprint)
        if progress is not None:
            progress(done, total)
    seconds = time.perf_counter() - started

    shutil.rmtree(adapter_dir, ignore_errors=True)
    model.save_pretrained(str(adapter_dir))
    train_loss = loss_sum / total if total else math.nan
    lineage = _lineage(config, total) | {"fingerprint": fingerprint, "train_loss": train_loss}
    # Written last: its fingerprint marks the adapter complete (see `_completed`).
    (adapter_dir / LINEAGE_FILE).write_text(json.dumps(lineage, indent=1))
    shutil.rmtree(checkpoints, ignore_errors=True)  # the run is complete: nothing to resume
    return TrainResult(
        steps=total,
        train_loss=train_loss,
        tokens=tokens,
        tokens_per_s=tokens / seconds if seconds > 0 else 0.0,
        adapter_dir=adapter_dir,
        resumed_from_step=resumed_from,
    )


def _batch_for_step(
    tokenized: Sequence[TokenizedExample], config: TrainConfig, step: int, steps_per_epoch: int
) -> list[TokenizedExample]:
    """The batch of `step`: epoch-wise shuffles seeded by (seed, epoch), so resuming is exact."""
    import torch

    epoch, index = divmod(step, steps_per_epoch)
    order = torch.randperm(
        len(tokenized), generator=torch.Generator().manual_seed(config.seed * 7919 + epoch)
    )
    chosen = order[index * config.batch_size : (index + 1) * config.batch_size]
    return [tokenized[int(i)] for i in chosen]


def _fingerprint(config: TrainConfig, tokenized: Sequence[TokenizedExample]) -> str:
    """What a checkpoint must match to be resumed: the data and every setting but the length."""
    settings = {k: v for k, v in asdict(config).items() if k not in ("max_steps", "epochs")}
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=list).encode())
    for item in tokenized:
        digest.update(json.dumps([item.input_ids, item.labels]).encode())
    return digest.hexdigest()[:16]


def _lineage(config: TrainConfig, steps: int) -> dict[str, Any]:
    return {"config": asdict(config), "steps": steps}


def _completed(adapter_dir: Path, fingerprint: str, total: int) -> TrainResult | None:
    """The adapter a run with this fingerprint and length completed in `adapter_dir`, if any."""
    try:
        lineage = json.loads((adapter_dir / LINEAGE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(lineage, dict) or lineage.get("fingerprint") != fingerprint:
        return None
    if lineage.get("steps") != total or not (adapter_dir / "adapter_model.safetensors").is_file():
        return None
    loss = lineage.get("train_loss")
    return TrainResult(
        steps=total, train_loss=float(loss) if isinstance(loss, int | float) else math.nan,
        tokens=0, tokens_per_s=0.0, adapter_dir=adapter_dir, resumed_from_step=total,
    )  # fmt: skip


def eval_loss(
    base_dir: Path,
    adapter_dir: Path | None,
    examples: Iterable[ChatExample | Mapping[str, Any]],
    max_length: int = 512,
    batch_size: int = 8,
) -> tuple[float, float]:
    """(mean loss per answer token, perplexity) of the base, or base + adapter, on `examples`."""
    import torch

    model, tokenizer = load_base(base_dir, adapter_dir)
    tokenized = tokenize_all(tokenizer, as_examples(examples), max_length)
    if not tokenized:
        raise TrainingFailed("no evaluation examples")
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    model.eval()
    total_loss, total_tokens = 0.0, 0
    with torch.no_grad():
        for first in range(0, len(tokenized), batch_size):
            batch = collate(tokenized[first : first + batch_size], pad_id)
            batch = {name: tensor.to(model.device) for name, tensor in batch.items()}
            total_loss += answer_loss(model, batch, reduction="sum").item()
            labels = batch["labels"][:, 1:]
            total_tokens += int((labels != -100).sum().item())
    loss = total_loss / max(total_tokens, 1)
    return loss, math.exp(min(loss, 50.0))


def answer_loss(model: Any, batch: dict[str, Any], reduction: str = "mean") -> Any:
    """Cross-entropy on the answer tokens, computing logits for those positions only.

    Gemma's vocabulary has 262k entries: the output layer over every position of a long prompt
    costs more than the rest of the model, and the loss ignores those positions anyway. So the
    hidden states are taken from the decoder and only the positions that predict an answer token
    go through the output layer (same loss as the model's own, a fraction of the work)."""
    import torch

    causal_lm = model.get_base_model() if hasattr(model, "get_base_model") else model
    decoder, head = getattr(causal_lm, "model", None), getattr(causal_lm, "lm_head", None)
    labels = batch["labels"][:, 1:]  # token t predicts token t+1
    if decoder is None or head is None:  # another architecture: the model's own loss
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        return torch.nn.functional.cross_entropy(
            logits[:, :-1].float().reshape(-1, logits.size(-1)), labels.reshape(-1),
            ignore_index=IGNORE_INDEX, reduction=reduction,
        )  # fmt: skip
    hidden = decoder(
        input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
    ).last_hidden_state[:, :-1]
    wanted = labels != IGNORE_INDEX
    logits = head(hidden[wanted]).float()
    cap = getattr(causal_lm.config, "final_logit_softcapping", None)
    if cap:
        logits = torch.tanh(logits / cap) * cap
    return torch.nn.functional.cross_entropy(logits, labels[wanted], reduction=reduction)
