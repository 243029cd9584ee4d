"""One training run, end to end: train a LoRA on the curated set, convert it for llama.cpp, check
it in a child process, store it where every replica reads it, evaluate it against the served
model, and promote it when the gate says so.

Every step is recorded: `TrainingStarted`, then `TrainingFinished` and `ModelEvaluated`, then
`ModelPromoted` when the gate passed; or `TrainingFailed` with the reason. The run ends at the
gate's decision (see `domain.model_registry.ends_run`), not at `TrainingFinished`. Nothing is
promoted before the gate passed, so a run killed at any point leaves the served model as it was;
run again on the same dataset and config, it reuses the version and resumes where it stopped:
from its last checkpoint while training, from the finished adapter (not trained again) once it
was recorded, from the recorded evaluation once there is one."""

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
from domain.model_registry import EVALUATED, FAILED, FINISHED, PROMOTED, STARTED, ends_run
from domain.ports import AdapterBlobs, EventStore
from training.adapter_store import fetch_dir, fetch_file, publish_adapter
from training.dataset import ChatExample, load_examples
from training.errors import TrainingFailed, TrainingInterrupted
from training.evaluate import Evaluation, GateSettings, evaluate
from training.gguf_adapter import file_sha256
from training.lora import Progress, TrainConfig, TrainResult, train_lora

log = logging.getLogger(__name__)

Validate = Callable[[Path], Awaitable[None]]
Promote = Callable[[str], Awaitable[None]]
# What tells whether a run is still open (unfinished_version) and where to resume it.
TRAINING_TYPES = (STARTED, FINISHED, FAILED, EVALUATED, PROMOTED)


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
    """The version of a run on this dataset and config that started and never ended (killed
    while training, or before the gate's decision)."""
    open_runs: dict[str, dict[str, Any]] = {}
    wanted = _settings_key(config_json(config))
    for event in events:
        version = str(event.payload.get("version"))
        if event.type == STARTED:
            open_runs[version] = event.payload
        elif ends_run(event):
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


@dataclass(frozen=True)
class RunSoFar:
    """What a version's stream says its run got through: the latest attempt's finished adapter
    (`TrainingFinished` payload) and evaluation (`ModelEvaluated` payload), if any."""

    finished: dict[str, Any] | None = None
    evaluated: dict[str, Any] | None = None

    @classmethod
    def of(cls, events: Sequence[RecordedEvent]) -> RunSoFar:
        finished: dict[str, Any] | None = None
        evaluated: dict[str, Any] | None = None
        for event in events:
            if event.type == STARTED:  # trained again: what came before is superseded
                finished, evaluated = None, None
            elif event.type == FINISHED:
                finished, evaluated = dict(event.payload), None
            elif event.type == EVALUATED:
                evaluated = dict(event.payload)
        return cls(finished, evaluated)


class TrainingPipeline:
    def __init__(
        self, store: EventStore, convert: Callable[[Path, Path], Path], validate: Validate,
        promote: Promote, progress: Progress | None = None,
        status: Callable[[str], None] | None = None, blobs: AdapterBlobs | None = None,
    ) -> None:  # fmt: skip
        self._store = store
        self._convert = convert
        self._validate = validate
        self._promote = promote
        self._progress = progress
        self._status = status or (lambda message: log.info("%s", message))
        self._blobs = blobs  # where every replica reads adapters; None: this disk only

    async def run(self, job: TrainingJob, resumed_from: int | None = None) -> TrainingOutcome:
        """Run `job`, or resume its version's run where it stopped (see the module's doc)."""
        stream = f"model-{job.version}"
        config = config_json(job.config)
        so_far = RunSoFar.of(await self._store.read_stream(stream))
        finished = so_far.finished
        if finished is not None and not await self._adapter_at_hand(job, finished):
            finished = None  # its files are gone: train again (resuming what can be)
        if finished is None:
            if resumed_from is None:
                resumed_from = _last_checkpoint_step(job.out_dir / "checkpoints")
            await self._store.append(stream, None, [NewEvent(STARTED, {
                "version": job.version, "base": job.base, "dataset_hash": job.data.dataset_hash,
                "config": config, "milestone": job.milestone, "resumed_from_step": resumed_from,
                "examples": len(job.data.train), "eval_examples": len(job.data.eval),
            })])  # fmt: skip
        try:
            if finished is None:
                finished = await self._train_and_record(job, stream, config)
                evaluated = None
            else:
                self._status(f"{job.version} was trained before it was stopped: resuming")
                evaluated = so_far.evaluated
            return await self._decide(job, stream, finished, evaluated)
        except TrainingInterrupted:
            raise  # not a failure: the run stays open and resumes
        except (BuddyError, OSError, ValueError, RuntimeError) as error:
            await self._store.append(stream, None, [NewEvent(FAILED, {
                "version": job.version, "dataset_hash": job.data.dataset_hash, "config": config,
                "milestone": job.milestone, "error": str(error)[:2000],
            })])  # fmt: skip
            log.warning("training %s failed: %s", job.version, error)
            return TrainingOutcome(job.version, "failed", error=str(error))

    async def _train_and_record(
        self, job: TrainingJob, stream: str, config: dict[str, Any]
    ) -> dict[str, Any]:
        """Train (or resume), convert, check, share the files; the `TrainingFinished` payload."""
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
            "sha256": await asyncio.to_thread(file_sha256, gguf),
        }
        if self._blobs is not None:  # before any event names the files: every replica reads them
            shared = await publish_adapter(self._blobs, gguf, result.adapter_dir)
            adapter["dir_sha256"] = shared["dir_sha256"]
        finished = {
            "version": job.version, "base": job.base, "dataset_hash": job.data.dataset_hash,
            "config": config, "metrics": metrics, "adapter": adapter,
        }  # fmt: skip
        await self._store.append(stream, None, [NewEvent(FINISHED, finished)])
        return finished

    async def _decide(
        self, job: TrainingJob, stream: str, finished: dict[str, Any],
        evaluated: dict[str, Any] | None,
    ) -> TrainingOutcome:  # fmt: skip
        """Evaluate (unless an evaluation against the same served version is on record), then
        promote when the gate passed: the run's decision."""
        if evaluated is None or evaluated.get("served_version") != job.served_version:
            evaluation = await self._evaluate(job, job.data_root / finished["adapter"]["dir"])
            evaluated = {
                "version": job.version, "served_version": job.served_version,
                "metrics": evaluation.metrics, "passed": evaluation.passed,
                "reasons": evaluation.reasons,
            }  # fmt: skip
            await self._store.append(stream, None, [NewEvent(EVALUATED, evaluated)])
        passed = bool(evaluated.get("passed"))
        promoted = False
        if passed:
            self._status(f"the gate passed: promoting {job.version}")
            await self._promote(job.version)
            promoted = True
        metrics = dict(finished.get("metrics") or {}) | dict(evaluated.get("metrics") or {})
        gate = {"passed": passed, "reasons": list(evaluated.get("reasons") or [])}
        return TrainingOutcome(job.version, "finished", metrics, promoted, gate)

    async def _adapter_at_hand(self, job: TrainingJob, finished: dict[str, Any]) -> bool:
        """Whether the finished adapter's files are on this disk as trained, fetched from the
        shared store when another replica trained it."""
        adapter = finished.get("adapter") or {}
        gguf = job.data_root / str(adapter.get("gguf", ""))
        folder = job.data_root / str(adapter.get("dir", ""))
        sha256, dir_sha256 = str(adapter.get("sha256") or ""), str(adapter.get("dir_sha256") or "")
        if not adapter.get("gguf") or not adapter.get("dir") or not sha256:
            return False
        try:
            if not gguf.is_file() and self._blobs is not None:
                await fetch_file(self._blobs, gguf, sha256)
            if not (folder / "adapter_model.safetensors").is_file() and self._blobs is not None:
                await fetch_dir(self._blobs, folder, dir_sha256)
            if not gguf.is_file() or not (folder / "adapter_model.safetensors").is_file():
                return False
            return await asyncio.to_thread(file_sha256, gguf) == sha256
        except (BuddyError, OSError) as error:
            log.warning("the adapter %s trained cannot be used: %s", job.version, error)
            return False

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
