"""One training run on the curated dataset, gated and promoted (the learning loop): what `buddy
train` and the scheduler's milestone job both call. One run at a time per data dir (a file lock),
whoever starts it."""

from __future__ import annotations

import asyncio
import fcntl
import importlib.util
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from bot.operations.datasets import current_dataset
from bot.settings import Settings
from domain.errors import BuddyError, ConfigurationError

if TYPE_CHECKING:
    from bot.bootstrap import Services

log = logging.getLogger(__name__)


def train_config(settings: Settings, max_steps: int | None = None) -> Any:
    from training.lora import TrainConfig

    targets = tuple(t.strip() for t in settings.lora_targets.split(",") if t.strip())
    return TrainConfig(
        rank=settings.lora_rank, alpha=settings.lora_alpha, target_modules=targets,
        epochs=settings.train_epochs, learning_rate=settings.train_learning_rate,
        batch_size=settings.train_batch_size, max_length=settings.train_max_length,
        max_steps=max_steps,
    )  # fmt: skip


def gate_settings(settings: Settings) -> Any:
    from training.evaluate import GateSettings, load_canaries, load_golden

    golden = settings.golden_set or settings.data_dir / "golden.jsonl"
    canaries = settings.canaries or settings.data_dir / "canaries.jsonl"
    return GateSettings(
        margin=settings.promotion_margin, golden=load_golden(golden),
        canaries=load_canaries(canaries), max_length=settings.train_max_length,
    )  # fmt: skip


async def base_weights(settings: Settings) -> tuple[str, Path, Path | None]:
    """(base name, its HF weights, the GGUF llama.cpp serves or None under Ollama)."""
    if settings.train_base is not None:
        if not (settings.train_base / "config.json").exists():
            raise BuddyError(f"BUDDY_TRAIN_BASE={settings.train_base} holds no Hugging Face model")
        gguf = await _served_gguf(settings) if settings.llm == "llamacpp" else None
        return settings.train_base.name, settings.train_base, gguf
    if settings.llm != "llamacpp":
        raise BuddyError("with BUDDY_LLM=ollama, set BUDDY_TRAIN_BASE to the base's HF weights")
    from training.base_weights import dequantised_base

    gguf = await _served_gguf(settings)
    typer.echo("preparing the base weights (de-quantised once, then cached)", err=True)
    hf = await asyncio.to_thread(dequantised_base, gguf, settings.data_dir / "models" / "hf")
    return gguf.stem, hf, gguf


async def _served_gguf(settings: Settings) -> Path:
    from bot.serve.model_serving import served_base

    return (await asyncio.to_thread(served_base, settings)).path


async def run_training(
    services: Services, *, max_steps: int | None = None, milestone: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    status: Callable[[str], None] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Train, check, evaluate and maybe promote; the outcome as `buddy train --json` prints it.
    `progress` (steps done, total) and `status` replace the terminal's bar and lines; both are
    called from the training thread too."""
    if importlib.util.find_spec("peft") is None:  # an image built without the `train` extra
        raise ConfigurationError(
            "this install cannot train: the `train` extra is missing (pip install 'buddy[train]')"
        )
    from training.pipeline import TRAINING_TYPES, CuratedSet, TrainingJob, unfinished_version

    settings = services.settings
    with _training_lock(settings.data_dir):
        data = CuratedSet.load(await current_dataset(services))
        config = train_config(settings, max_steps)
        base, base_dir, served_gguf = await base_weights(settings)
        registry = services.model_registry()
        state = await registry.state()
        history = await _read(services, TRAINING_TYPES)
        version = unfinished_version(history, data.dataset_hash, config)
        if version is None:
            version = await registry.next_version()
        served_adapter = await _served_adapter(services, state)
        job = TrainingJob(
            version=version, base=base, base_dir=base_dir, data=data,
            data_root=settings.data_dir, config=config, gate=gate_settings(settings),
            served_version=state.served, served_adapter=served_adapter, milestone=milestone,
        )  # fmt: skip
        with nullcontext(progress) if progress else _progress_bar() as report:
            say = status or (lambda message: typer.echo(message, err=True))
            pipeline = _pipeline(services, served_gguf, registry, report, say)
            outcome = await pipeline.run(job)
    return dict(outcome.as_json())


async def _served_adapter(services: Services, state: Any) -> Path | None:
    """The served version's peft folder (the gate's yardstick) on this disk: fetched from the
    shared adapter store when another replica trained it. None for the base."""
    folder: Path | None = state.served_adapter_dir(services.settings.data_dir)
    known = state.versions.get(state.served)
    if folder is None or known is None or known.adapter is None:
        return folder
    if not (folder / "adapter_model.safetensors").is_file():
        from training.adapter_store import fetch_dir

        await fetch_dir(services.adapter_blobs(), folder, known.adapter.dir_sha256)
    return folder


def _pipeline(
    services: Services, served_gguf: Path | None, registry: Any, progress: Any,
    status: Callable[[str], None],
) -> Any:  # fmt: skip
    from training.gguf_adapter import convert_adapter
    from training.pipeline import TrainingPipeline

    async def validate(adapter: Path) -> None:
        if served_gguf is None:
            return  # Ollama checks the adapter itself when the model is created
        from adapters.llm.adapter_probe import validate_adapter

        await validate_adapter(served_gguf, adapter)

    async def promote(version: str) -> None:
        await registry.promote(version, reason="gate")

    return TrainingPipeline(
        services.store, lambda src, out: convert_adapter(src, out), validate, promote,
        progress=progress, status=status,
        blobs=services.adapter_blobs(),
    )  # fmt: skip


async def _read(services: Services, types: tuple[str, ...]) -> list[Any]:
    found: list[Any] = []
    after = 0
    while batch := await services.store.read_all(after, limit=1000, types=list(types)):
        found.extend(batch)
        after = batch[-1].position
    return found


@contextmanager
def _training_lock(data_dir: Path) -> Iterator[None]:
    """One training run per data dir at a time, across processes."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with (data_dir / ".training.lock").open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BuddyError("a training run is already in progress on this data dir") from None
        yield


@contextmanager
def _progress_bar() -> Iterator[Any]:
    """A bar on a terminal's stderr; a log line every tenth of the run elsewhere."""
    if not sys.stderr.isatty():

        def report(done: int, total: int) -> None:
            if done == total or done % max(1, total // 10) == 0:
                log.info("training step %d/%d", done, total)

        yield report
        return
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task("training", total=None)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield advance
