"""One training run, end to end: train a LoRA on the curated set, convert it for llama.cpp, check
it in a child process, evaluate it against the served model, and promote it when the gate says so.

Every step is recorded: `TrainingStarted`, then `TrainingFinished` and `ModelEvaluated`, or
`TrainingFailed` with the reason. Nothing is promoted before the gate passed, so a run killed
midway leaves the served model as it was; run again on the same dataset and config, it reuses the
version and resumes from its last checkpoint."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from domain.errors import BuddyError
from domain.events import NewEvent, RecordedEvent
from domain.ports import EventStore
from training.dataset import ChatExample, load_examples
from training.errors import TrainingFailed, TrainingInterrupted
from training.evaluate import Evaluation, GateSettings, evaluate
from training.gguf_adapter import file_sha256
from training.lora import Progress, TrainConfig, TrainResult, train_lora

log = logging.getLogger(__name__)

Validate = Callable[[Path], Awaitable[None]]
Promote = Callable[[str], Awaitable[None]]
TRAINING_TYPES = (
    "training.TrainingStarted",
    "training.TrainingFinished",
    "training.TrainingFailed",
)


@dataclass(frozen=True)
class CuratedSet:
    train: list[ChatExample]
    eval: list[ChatExample]
    dataset_hash: str

    @classmethod
    def load(cls, folder: Path) -> CuratedSet:
        summary_file = folder / "summary.json"
        if not summary_file.exists():
            raise TrainingFailed("no curated dataset yet: run `buddy curate` first")
        summary = json.loads(summary_file.read_text(encoding="utf-8").splitlines()[0])
        train = load_examples(folder / "train.jsonl")
        if not train:
            raise TrainingFailed(
                "the curated dataset has no training examples yet: rate some answers and run "
                "`buddy curate`, or start cold with `buddy curate --synthesize N`"
            )
        evaluation = (
            load_examples(folder / "eval.jsonl") if (folder / "eval.jsonl").exists() else []
        )
        return cls(train, evaluation, str(summary["dataset_hash"]))


@dataclass(frozen=True)
class TrainingJob:
    version: str
    base: str  # the base model's name, for lineage
    base_dir: Path  # its Hugging Face weights
    data: CuratedSet
    data_root: Path  # paths in events are relative to it
    config: TrainConfig
    gate: GateSettings
    served_version: str
    served_adapter: Path | None  # the served version's peft adapter; None for the base
    milestone: int | None = None

    @property
    def out_dir(self) -> Path:
        return self.data_root / "adapters" / self.version


@dataclass
class TrainingOutcome:
    version: str
    status: str  # finished | failed
    metrics: dict[str, Any] = field(default_factory=dict)
    promoted: bool = False
    gate: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        document = {"version": self.version, "status": self.status, "metrics": self.metrics,
                    "promoted": self.promoted, "gate": self.gate}  # fmt: skip
        return document | ({"error": self.error} if self.error else {})


def config_json(config: TrainConfig) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(config).items()}


def unfinished_version(
    events: Sequence[RecordedEvent], dataset_hash: str, config: TrainConfig
) -> str | None:
    """The version of a run on this dataset and config that started and never ended (killed)."""
    open_runs: dict[str, dict[str, Any]] = {}
    wanted = _settings_key(config_json(config))
    for event in events:
        version = str(event.payload.get("version"))
        if event.type == "training.TrainingStarted":
            open_runs[version] = event.payload
        else:
            open_runs.pop(version, None)
    for version, started in reversed(open_runs.items()):
        if started.get("dataset_hash") == dataset_hash and (
            _settings_key(started.get("config") or {}) == wanted
        ):
            return str(version)
    return None


def _settings_key(config: dict[str, Any]) -> str:
    # The length of a run (steps, epochs) may change between tries; what it learns from may not.
    kept = {k: v for k, v in config.items() if k not in ("max_steps", "epochs")}
    return json.dumps(kept, sort_keys=True)


class TrainingPipeline:
    def __init__(
        self, store: EventStore, convert: Callable[[Path, Path], Path], validate: Validate,
        promote: Promote | None, progress: Progress | None = None,
        status: Callable[[str], None] | None = None,
    ) -> None:  # fmt: skip
        self._store = store
        self._convert = convert
        self._validate = validate
        self._promote = promote
        self._progress = progress
        self._status = status or (lambda message: log.info("%s", message))

    async def run(self, job: TrainingJob, resumed_from: int | None = None) -> TrainingOutcome:
        stream = f"model-{job.version}"
        config = config_json(job.config)
        if resumed_from is None:
            resumed_from = _last_checkpoint_step(job.out_dir / "checkpoints")
        await self._store.append(stream, None, [NewEvent("training.TrainingStarted", {
            "version": job.version, "base": job.base, "dataset_hash": job.data.dataset_hash,
            "config": config, "milestone": job.milestone, "resumed_from_step": resumed_from,
            "examples": len(job.data.train), "eval_examples": len(job.data.eval),
        })])  # fmt: skip
        try:
            return await self._steps(job, stream, config)
        except TrainingInterrupted:
            raise  # not a failure: the run stays open and resumes
        except (BuddyError, OSError, ValueError, RuntimeError) as error:
            await self._store.append(stream, None, [NewEvent("training.TrainingFailed", {
                "version": job.version, "dataset_hash": job.data.dataset_hash, "config": config,
                "milestone": job.milestone, "error": str(error)[:2000],
            })])  # fmt: skip
            log.warning("training %s failed: %s", job.version, error)
            return TrainingOutcome(job.version, "failed", error=str(error))

    async def _steps(
        self, job: TrainingJob, stream: str, config: dict[str, Any]
    ) -> TrainingOutcome:
        started = time.perf_counter()
        self._status(f"training {job.version} on {len(job.data.train)} examples")
        result = await self._train(job)
        self._status("converting the adapter for llama.cpp")
        gguf = await asyncio.to_thread(
            self._convert, result.adapter_dir, job.out_dir / "adapter.gguf"
        )
        self._status("checking the adapter in a separate process")
        await self._validate(gguf)
        metrics = {
            "train_loss": round(result.train_loss, 6), "steps": result.steps,
            "tokens": result.tokens, "tokens_per_s": round(result.tokens_per_s, 1),
            "seconds": round(time.perf_counter() - started, 1),
            "resumed_from_step": result.resumed_from_step,
        }  # fmt: skip
        adapter = {
            "dir": str(result.adapter_dir.relative_to(job.data_root)),
            "gguf": str(gguf.relative_to(job.data_root)),
            "sha256": file_sha256(gguf),
        }
        await self._store.append(stream, None, [NewEvent("training.TrainingFinished", {
            "version": job.version, "base": job.base, "dataset_hash": job.data.dataset_hash,
            "config": config, "metrics": metrics, "adapter": adapter,
        })])  # fmt: skip
        evaluation = await self._evaluate(job, result.adapter_dir)
        await self._store.append(stream, None, [NewEvent("training.ModelEvaluated", {
            "version": job.version, "served_version": job.served_version,
            "metrics": evaluation.metrics, "passed": evaluation.passed,
            "reasons": evaluation.reasons,
        })])  # fmt: skip
        promoted = False
        if evaluation.passed and self._promote is not None:
            self._status(f"the gate passed: promoting {job.version}")
            await self._promote(job.version)
            promoted = True
        gate = {"passed": evaluation.passed, "reasons": evaluation.reasons}
        return TrainingOutcome(
            job.version, "finished", metrics | evaluation.metrics, promoted, gate
        )

    async def _train(self, job: TrainingJob) -> TrainResult:
        """The training thread, asked to checkpoint and stop when this task is cancelled (a
        shutdown): the run then stays open (no TrainingFailed) and the next one resumes it."""
        stop = threading.Event()
        thread = asyncio.ensure_future(asyncio.to_thread(
            train_lora, job.base_dir, job.data.train, job.out_dir, job.config,
            progress=self._progress, stop=stop,
        ))  # fmt: skip
        try:
            return await asyncio.shield(thread)
        except asyncio.CancelledError:
            stop.set()
            with contextlib.suppress(TrainingInterrupted):
                await thread
            raise

    async def _evaluate(self, job: TrainingJob, candidate: Path) -> Evaluation:
        self._status(f"evaluating {job.version} against {job.served_version}")
        return await asyncio.to_thread(
            evaluate, job.base_dir, candidate, job.served_adapter, job.data.eval, job.gate,
            progress=self._status,
        )  # fmt: skip


def _last_checkpoint_step(checkpoints: Path) -> int | None:
    steps = [int(p.name[5:]) for p in checkpoints.glob("step-*") if p.name[5:].isdigit()]
    return max(steps, default=None)
