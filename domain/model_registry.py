"""The model registry: every trained version with its lineage, and which one is served.

The state is a fold of the `training.*` events: `TrainingFinished` gives a version its lineage
(base, dataset hash, config, metrics, adapter files), `ModelEvaluated` the gate's figures, and
`ModelPromoted` / `ModelRolledBack` on the `model-registry` stream move the served version. The
promotions form a stack, so a rollback returns to whatever was served before the current one.

A run ends at a gate decision (`ModelEvaluated` that failed the gate, or the version's
`ModelPromoted`) or at `TrainingFailed`; `TrainingFinished` alone is not an end: a run killed
while it was evaluated, or between a passed gate and the promotion, is resumed to a decision."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from domain.errors import BuddyError, ConcurrencyError
from domain.event_types import TrainingEvents
from domain.events import NO_STREAM, NewEvent, RecordedEvent
from domain.ports import EventStore

REGISTRY_STREAM = "model-registry"
BASE = "base"
PROMOTED = TrainingEvents.MODEL_PROMOTED
ROLLED_BACK = TrainingEvents.MODEL_ROLLED_BACK
STARTED = TrainingEvents.TRAINING_STARTED
FINISHED = TrainingEvents.TRAINING_FINISHED
FAILED = TrainingEvents.TRAINING_FAILED
EVALUATED = TrainingEvents.MODEL_EVALUATED
REGISTRY_TYPES = (STARTED, FINISHED, FAILED, EVALUATED, PROMOTED, ROLLED_BACK)
# The events that can end a run (see `ends_run`).
RUN_ENDING_TYPES = (FAILED, EVALUATED, PROMOTED)


def ends_run(event: RecordedEvent) -> bool:
    """Whether `event` ends the run of its version: a failure, or the gate's decision (refused
    at evaluation, or the version promoted). `TrainingFinished` does not: the adapter still has
    to be evaluated and decided on, and a run killed before that is resumed."""
    if event.type == EVALUATED:
        return not event.payload.get("passed")
    return event.type in (FAILED, PROMOTED)


class RegistryRefused(BuddyError):
    """A promotion or rollback the registry cannot make (unknown version, nothing to undo...)."""


@dataclass(frozen=True)
class AdapterFiles:
    dir: str  # paths relative to the data dir
    gguf: str
    sha256: str
    dir_sha256: str = ""  # the peft folder's archive in the shared adapter store ("": none)


@dataclass
class ModelVersion:
    """One trained (or training) version and its lineage."""

    version: str
    status: str = "training"  # training | failed | trained | passed | gate_failed
    base: str | None = None
    dataset_hash: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    adapter: AdapterFiles | None = None
    evaluation: dict[str, Any] | None = None
    error: str | None = None
    created_at: datetime | None = None

    @property
    def servable(self) -> bool:
        return self.adapter is not None and self.status in ("trained", "passed", "gate_failed")


@dataclass(frozen=True)
class ServedModel:
    """What to serve: the version and, past the base, its GGUF adapter and that file's hash."""

    version: str = BASE
    gguf: str | None = None
    sha256: str | None = None


@dataclass
class RegistryState:
    versions: dict[str, ModelVersion] = field(default_factory=dict)
    started: set[str] = field(default_factory=set)  # versions with a TrainingStarted
    stack: list[ServedModel] = field(default_factory=lambda: [ServedModel()])
    registry_version: int = NO_STREAM  # the `model-registry` stream's version folded so far
    _promoted: dict[str, ServedModel] = field(default_factory=dict, repr=False)

    @property
    def served(self) -> str:
        """The served version's name ("base" before any promotion)."""
        return self.stack[-1].version

    @property
    def served_model(self) -> ServedModel:
        return self.stack[-1]

    def served_adapter_dir(self, data_dir: Path) -> Path | None:
        """The served version's peft adapter folder; None for the base."""
        known = self.versions.get(self.served)
        if known is None or known.adapter is None or not known.adapter.dir:
            return None
        return data_dir / known.adapter.dir

    @property
    def previous(self) -> ServedModel | None:
        """What a rollback would serve; None when there is nothing to roll back to."""
        return self.stack[-2] if len(self.stack) > 1 else None

    def next_version(self) -> str:
        return f"v{len(self.started) + 1}"

    def evolve(self, event: RecordedEvent) -> None:
        """Fold one event in (events of other types are ignored)."""
        payload = event.payload
        if event.stream_id == REGISTRY_STREAM:
            self.registry_version = max(self.registry_version, event.version)
        if event.type == PROMOTED:
            gguf, sha = payload.get("gguf"), payload.get("adapter_sha256")
            self.stack.append(ServedModel(str(payload["version"]), gguf, sha))
            self._promoted[self.stack[-1].version] = self.stack[-1]
        elif event.type == ROLLED_BACK:
            if len(self.stack) > 1 and self.stack[-1].version == payload.get("from_version"):
                self.stack.pop()
            target = str(payload["to_version"])
            if self.stack[-1].version != target:  # an odd history: trust the event
                self.stack.append(self._served_as(target))
        elif event.type.startswith("training.") and "version" in payload:
            self._evolve_version(event)

    def _evolve_version(self, event: RecordedEvent) -> None:
        payload = event.payload
        name = str(payload["version"])
        version = self.versions.setdefault(name, ModelVersion(name))
        if event.type == STARTED:
            self.started.add(name)
            version.created_at = version.created_at or event.recorded_at
            version.status, version.error = "training", None
            version.base = payload.get("base", version.base)
            version.dataset_hash = payload.get("dataset_hash", version.dataset_hash)
            version.config = dict(payload.get("config") or {})
        elif event.type == FINISHED:
            adapter = payload.get("adapter") or {}
            version.status = "trained"
            version.base = payload.get("base", version.base)
            version.dataset_hash = payload.get("dataset_hash", version.dataset_hash)
            version.config = dict(payload.get("config") or version.config)
            version.metrics = dict(payload.get("metrics") or {})
            version.adapter = AdapterFiles(
                str(adapter.get("dir", "")), str(adapter.get("gguf", "")),
                str(adapter.get("sha256", "")), str(adapter.get("dir_sha256") or ""),
            )  # fmt: skip
        elif event.type == FAILED:
            version.status, version.error = "failed", payload.get("error")
        elif event.type == EVALUATED:
            version.evaluation = {k: v for k, v in payload.items() if k != "version"}
            if version.status in ("trained", "passed", "gate_failed"):
                version.status = "passed" if payload.get("passed") else "gate_failed"

    def _served_as(self, name: str) -> ServedModel:
        if name in self._promoted:
            return self._promoted[name]
        known = self.versions.get(name)
        if name == BASE or known is None or known.adapter is None:
            return ServedModel(name)
        return ServedModel(name, known.adapter.gguf, known.adapter.sha256)


def fold(events: Iterable[RecordedEvent]) -> RegistryState:
    state = RegistryState()
    for event in events:
        state.evolve(event)
    return state


@dataclass(frozen=True)
class RatingCounts:
    """Live ratings of one version's answers."""

    positive: int = 0
    negative: int = 0

    @property
    def total(self) -> int:
        return self.positive + self.negative

    @property
    def negative_rate(self) -> float:
        return self.negative / self.total if self.total else 0.0

    def as_json(self) -> dict[str, Any]:
        rate = round(self.negative_rate, 4)
        return {"positive": self.positive, "negative": self.negative, "negative_rate": rate}


def should_roll_back(
    current: RatingCounts, previous: RatingCounts, margin: float, min_ratings: int
) -> bool:
    """Whether the served version does worse than the one before: its negative rate exceeds the
    previous one's by more than `margin`, over at least `min_ratings` ratings of its own."""
    if current.total < max(min_ratings, 1):
        return False
    return current.negative_rate - previous.negative_rate > margin


_OLLAMA_TAG = re.compile(r"^ollama:buddy-(?P<version>[^:]+)(?::latest)?$")


def registry_version_of(model_version: str) -> str:
    """The registry version an answer's `model_version` names: `llamacpp:<stem>+v2` and
    `ollama:buddy-v2` are v2; a label without an adapter is the base."""
    if found := _OLLAMA_TAG.match(model_version):
        return found.group("version")
    _, plus, version = model_version.rpartition("+")
    return version if plus and version else BASE


class ModelRegistry:
    """Promotion and rollback over the event store, with optimistic concurrency."""

    def __init__(self, store: EventStore) -> None:
        self._store = store

    async def state(self) -> RegistryState:
        state, after = RegistryState(), 0
        while batch := await self._store.read_all(after, types=REGISTRY_TYPES):
            for event in batch:
                state.evolve(event)
            after = batch[-1].position
        return state

    async def served_model(self) -> ServedModel:
        """The served version, from the registry stream alone (cheap enough to poll)."""
        state = fold(await self._store.read_stream(REGISTRY_STREAM))
        return state.served_model

    async def next_version(self) -> str:
        return (await self.state()).next_version()

    async def promote(
        self, version: str, reason: str = "admin", by: str | None = None
    ) -> dict[str, Any]:
        """Serve `version` from now on; returns the `ModelPromoted` payload."""
        metadata = {"by": by} if by else {}

        def promotion(state: RegistryState) -> NewEvent:
            return NewEvent(PROMOTED, _promotion(state, version, reason), metadata=metadata)

        return await self._decide_and_append(promotion)

    async def rollback(
        self, reason: str = "admin", details: Mapping[str, Any] | None = None, *,
        from_version: str | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """Serve what was served before the current version; returns the event's payload.
        With `from_version`, only if that is still the served version."""

        def rollback(state: RegistryState) -> NewEvent:
            if from_version is not None and state.served != from_version:
                raise RegistryRefused(f"{from_version} is no longer served ({state.served} is)")
            previous = state.previous
            if previous is None:
                raise RegistryRefused(
                    f"nothing to roll back: {state.served} is served and nothing was "
                    "served before it"
                )
            payload = {
                "from_version": state.served, "to_version": previous.version,
                "reason": reason, "details": dict(details or {}),
            }  # fmt: skip
            return NewEvent(ROLLED_BACK, payload)

        return await self._decide_and_append(rollback)

    async def _decide_and_append(
        self, decide: Callable[[RegistryState], NewEvent]
    ) -> dict[str, Any]:
        """Decide on the current state and append at its version; a lost race decides again
        once on the new state (the second loss is reported)."""
        for attempt in (1, 2):
            state = await self.state()
            event = decide(state)
            try:
                await self._store.append(REGISTRY_STREAM, state.registry_version, [event])
            except ConcurrencyError:
                if attempt == 2:
                    raise
                continue
            return dict(event.payload)
        raise AssertionError("unreachable")  # pragma: no cover


def _promotion(state: RegistryState, version: str, reason: str) -> dict[str, Any]:
    if state.served == version:
        raise RegistryRefused(f"{version} is already served")
    if version == BASE:
        return {"version": BASE, "previous": state.served, "reason": reason,
                "adapter_sha256": None, "gguf": None}  # fmt: skip
    known = state.versions.get(version)
    if known is None:
        names = ", ".join([BASE, *state.versions]) or BASE
        raise RegistryRefused(f"unknown model version {version!r} (known: {names})")
    if not known.servable or known.adapter is None:
        why = f"its training failed: {known.error}" if known.status == "failed" else (
            "it has not finished training")  # fmt: skip
        raise RegistryRefused(f"{version} cannot be served: {why}")
    return {"version": version, "previous": state.served, "reason": reason,
            "adapter_sha256": known.adapter.sha256, "gguf": known.adapter.gguf}  # fmt: skip
