"""Training checkpoints: the adapter, the optimizer, the step, RNG and running loss.

The RNG is torch's CPU generator and, on a GPU, every CUDA device's generator too (dropout draws
from the device's), so a resumed run on a GPU draws what an uninterrupted one would have.

Each is written to `step-N.partial` and renamed when complete, so a run killed while saving
leaves the previous checkpoint as the latest; only the last two are kept."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STATE_FILE = "trainer_state.pt"
_KEEP = 2


@dataclass(frozen=True)
class CheckpointState:
    step: int
    loss_sum: float


def save_checkpoint(
    checkpoints: Path, step: int, model: Any, optimizer: Any, loss_sum: float, fingerprint: str
) -> Path:
    import torch

    final = checkpoints / f"step-{step}"
    staging = checkpoints / f"step-{step}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    model.save_pretrained(staging)
    state = {
        "step": step,
        "loss_sum": loss_sum,
        "fingerprint": fingerprint,
        "optimizer": optimizer.state_dict(),
        "rng": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda_rng"] = torch.cuda.get_rng_state_all()
    torch.save(state, staging / STATE_FILE)
    shutil.rmtree(final, ignore_errors=True)
    staging.rename(final)
    for old in _complete(checkpoints)[:-_KEEP]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def latest_checkpoint(checkpoints: Path, fingerprint: str) -> Path | None:
    """The newest complete checkpoint written by a run with this fingerprint."""
    import torch

    for candidate in reversed(_complete(checkpoints)):
        try:
            state = torch.load(candidate / STATE_FILE, map_location="cpu", weights_only=True)
        except (OSError, RuntimeError, EOFError):
            continue  # unreadable: fall back to an older one
        if state.get("fingerprint") == fingerprint:
            return candidate
    return None


def load_checkpoint(path: Path, model: Any, optimizer: Any) -> CheckpointState:
    """Restore the adapter weights, optimizer and RNG into the live objects."""
    import torch
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    state = torch.load(path / STATE_FILE, map_location="cpu", weights_only=True)
    weights = load_file(str(path / "adapter_model.safetensors"), device=str(model.device))
    set_peft_model_state_dict(model, weights)
    optimizer.load_state_dict(state["optimizer"])
    torch.set_rng_state(state["rng"])
    cuda_rng = state.get("cuda_rng")
    if cuda_rng and torch.cuda.is_available():
        # One state per device it was saved on; a machine with fewer devices restores those.
        torch.cuda.set_rng_state_all(list(cuda_rng)[: torch.cuda.device_count()])
    return CheckpointState(step=int(state["step"]), loss_sum=float(state["loss_sum"]))


def _complete(checkpoints: Path) -> list[Path]:
    if not checkpoints.is_dir():
        return []
    found = [p for p in checkpoints.glob("step-*") if p.is_dir() and p.name[5:].isdigit()]
    return sorted(found, key=lambda p: int(p.name[5:]))
