"""The trainer on a tiny randomly initialised Gemma 3: the loss is on the answer only, training
lowers it, and a run killed midway resumes to the very adapter an uninterrupted run makes."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from training.dataset import IGNORE_INDEX, ChatExample, render, tokenize
from training.errors import TrainingFailed
from training.lora import TrainConfig, eval_loss, train_lora
from training.tiny import make_tiny_gemma

EXAMPLES = [
    {"messages": [
        {"role": "system", "content": "You are Buddy."},
        {"role": "user", "content": "How do I deploy the service?"},
        {"role": "assistant", "content": "Run make deploy from the repo root."},
    ]},
    {"messages": [
        {"role": "system", "content": "You are Buddy."},
        {"role": "user", "content": "What is the staging cluster called?"},
        {"role": "assistant", "content": "The staging cluster is called zephyr."},
    ]},
]  # fmt: skip
FAST = TrainConfig(batch_size=2, max_length=64, learning_rate=2e-2, checkpoint_every=2, seed=3)


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_gemma(tmp_path_factory.mktemp("tiny-gemma"))


def test_examples_render_as_served_and_only_the_answer_is_learnt(tiny_base: Path) -> None:
    from transformers import AutoTokenizer

    rendered = render(ChatExample.from_json(EXAMPLES[0]))
    assert rendered.prompt == "You are Buddy.\n\nQuestion: How do I deploy the service?\nAnswer:"
    assert rendered.answer == " Run make deploy from the repo root."
    tokenizer = AutoTokenizer.from_pretrained(tiny_base)
    item = tokenize(tokenizer, rendered, max_length=64)
    learnt = [t for t, label in zip(item.input_ids, item.labels, strict=True) if label != -100]
    assert tokenizer.decode(learnt, skip_special_tokens=True) == rendered.answer
    assert learnt[-1] == tokenizer.eos_token_id  # it learns to stop
    assert item.labels[0] == IGNORE_INDEX

    short = tokenize(
        tokenizer, rendered, max_length=24
    )  # the prompt's start is cut, not the answer
    assert len(short.input_ids) == 24
    assert short.input_ids[0] == tokenizer.bos_token_id
    kept = [t for t, label in zip(short.input_ids, short.labels, strict=True) if label != -100]
    assert kept == learnt


def test_training_lowers_the_loss_on_what_it_learnt(tiny_base: Path, tmp_path: Path) -> None:
    before, _ = eval_loss(tiny_base, None, EXAMPLES, max_length=64)
    result = train_lora(tiny_base, EXAMPLES, tmp_path / "run", replace(FAST, max_steps=16))
    after, perplexity = eval_loss(tiny_base, result.adapter_dir, EXAMPLES, max_length=64)
    assert result.steps == 16
    assert after < before * 0.8, (before, after)
    assert perplexity > 1.0
    assert (result.adapter_dir / "adapter_model.safetensors").exists()
    assert not (tmp_path / "run" / "checkpoints").exists()  # complete: nothing left to resume


def test_a_killed_run_resumes_to_the_same_adapter(tiny_base: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    config = replace(FAST, max_steps=5)
    whole = train_lora(tiny_base, EXAMPLES, tmp_path / "whole", config)

    class Killed(Exception):
        pass

    def die_at_step_3(done: int, total: int) -> None:
        if done == 3:
            raise Killed

    with pytest.raises(Killed):
        train_lora(tiny_base, EXAMPLES, tmp_path / "broken", config, progress=die_at_step_3)
    assert (tmp_path / "broken" / "checkpoints" / "step-2").is_dir()
    assert not (tmp_path / "broken" / "adapter").exists()

    resumed = train_lora(tiny_base, EXAMPLES, tmp_path / "broken", config)
    assert resumed.resumed_from_step == 2
    expected = load_file(str(whole.adapter_dir / "adapter_model.safetensors"))
    got = load_file(str(resumed.adapter_dir / "adapter_model.safetensors"))
    assert expected.keys() == got.keys()
    for name, tensor in expected.items():
        assert (tensor - got[name]).abs().max().item() < 1e-5, name
    assert abs(resumed.train_loss - whole.train_loss) < 1e-4


def test_a_changed_dataset_never_resumes_another_runs_checkpoint(
    tiny_base: Path, tmp_path: Path
) -> None:
    config = replace(FAST, max_steps=4)

    def die_at_step_3(done: int, total: int) -> None:
        if done == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_lora(tiny_base, EXAMPLES, tmp_path / "run", config, progress=die_at_step_3)
    other = train_lora(tiny_base, EXAMPLES[:1], tmp_path / "run", config)
    assert other.resumed_from_step is None


def test_bad_input_is_a_clear_error(tiny_base: Path, tmp_path: Path) -> None:
    with pytest.raises(TrainingFailed, match="no training examples"):
        train_lora(tiny_base, [], tmp_path / "run", FAST)
    with pytest.raises(TrainingFailed, match="unknown message roles"):
        train_lora(tiny_base, [{"messages": [{"role": "bot", "content": "x"}]}], tmp_path, FAST)
    bad_targets = replace(FAST, target_modules=("nope_proj",))
    with pytest.raises(TrainingFailed, match="cannot apply LoRA"):
        train_lora(tiny_base, EXAMPLES, tmp_path / "run", bad_targets)
    with pytest.raises(TrainingFailed, match="cannot load base model"):
        train_lora(tmp_path / "missing", EXAMPLES, tmp_path / "run", FAST)


def test_the_answer_only_loss_is_the_models_own_loss(tiny_base: Path) -> None:
    import torch

    from training.dataset import collate, tokenize_all
    from training.lora import answer_loss, load_base

    model, tokenizer = load_base(tiny_base)
    tokenized = tokenize_all(tokenizer, [ChatExample.from_json(e) for e in EXAMPLES], 64)
    batch = collate(tokenized, tokenizer.pad_token_id)
    model.eval()
    with torch.no_grad():
        own = model(**batch).loss
        ours = answer_loss(model, batch)
    assert torch.allclose(own, ours, atol=1e-5), (own, ours)


def test_a_stop_request_checkpoints_where_it_is_and_the_next_run_resumes(
    tiny_base: Path, tmp_path: Path
) -> None:
    import threading

    from training.errors import TrainingInterrupted

    stop = threading.Event()
    config = replace(FAST, max_steps=5, checkpoint_every=100)  # no periodic checkpoint

    def shutdown_after_step_3(done: int, total: int) -> None:
        if done == 3:
            stop.set()  # what the pipeline does when its task is cancelled

    with pytest.raises(TrainingInterrupted, match="stopped at step 3 of 5"):
        train_lora(tiny_base, EXAMPLES, tmp_path / "run", config, progress=shutdown_after_step_3,
                   stop=stop)  # fmt: skip
    assert (tmp_path / "run" / "checkpoints" / "step-3").is_dir()
    resumed = train_lora(tiny_base, EXAMPLES, tmp_path / "run", config)
    assert resumed.resumed_from_step == 3
    assert resumed.steps == 5
