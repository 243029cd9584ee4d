"""Checkpoints carry every RNG a resumed run draws from: on a GPU the CUDA generators too (dropout
draws from the device's), restored on the devices the machine has; on a CPU nothing changes.
The CUDA calls are stand-ins here, so this runs on the CPU-only test machines."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from training.checkpoints import STATE_FILE, load_checkpoint, save_checkpoint


class Adapter:
    """What the checkpoint code needs of a peft model: save_pretrained and a device."""

    device = "cpu"

    def __init__(self) -> None:
        import torch

        self.weight = torch.nn.Parameter(torch.ones(2))

    def save_pretrained(self, folder: Path) -> None:
        from safetensors.torch import save_file

        folder.mkdir(parents=True, exist_ok=True)
        save_file({"w": self.weight.detach()}, str(folder / "adapter_model.safetensors"))


@pytest.fixture
def gpu(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """torch.cuda as on a machine with one device; `restored` receives what is set back."""
    import peft
    import torch

    seen: dict[str, Any] = {"saved": [torch.tensor([7, 1, 3], dtype=torch.uint8),
                                      torch.tensor([9, 9], dtype=torch.uint8)],
                            "restored": None}  # fmt: skip

    def restore(states: list[Any]) -> None:
        seen["restored"] = states

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "get_rng_state_all", lambda: seen["saved"])
    monkeypatch.setattr(torch.cuda, "set_rng_state_all", restore)
    monkeypatch.setattr(peft, "set_peft_model_state_dict", lambda model, weights: None)
    return seen


def checkpoint(tmp_path: Path) -> tuple[Path, Adapter, Any]:
    import torch

    model = Adapter()
    optimizer = torch.optim.SGD([model.weight], lr=0.1)
    return save_checkpoint(tmp_path, 2, model, optimizer, 1.5, "fp"), model, optimizer


def test_on_a_gpu_the_cuda_rng_is_saved_and_restored(tmp_path: Path, gpu: dict[str, Any]) -> None:
    import torch

    path, model, optimizer = checkpoint(tmp_path)
    state = load_checkpoint(path, model, optimizer)
    assert (state.step, state.loss_sum) == (2, 1.5)
    restored = gpu["restored"]
    assert restored is not None
    assert len(restored) == 1  # the devices this machine has
    assert torch.equal(restored[0], gpu["saved"][0])


def test_on_a_cpu_nothing_cuda_is_saved_or_restored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import peft
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(peft, "set_peft_model_state_dict", lambda model, weights: None)
    path, model, optimizer = checkpoint(tmp_path)
    assert "cuda_rng" not in torch.load(path / STATE_FILE, weights_only=True)
    before = torch.get_rng_state()
    torch.rand(3)  # moves the CPU generator on; the checkpoint puts it back
    load_checkpoint(path, model, optimizer)
    assert torch.equal(torch.get_rng_state(), before)


def test_a_cpu_checkpoint_resumes_on_a_gpu(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, gpu: dict[str, Any]
) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    path, model, optimizer = checkpoint(tmp_path)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    load_checkpoint(path, model, optimizer)
    assert gpu["restored"] is None  # nothing saved for CUDA: its generator is left as seeded
