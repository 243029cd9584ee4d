"""Training milestones: which one is due, from the curated dataset's size and the runs started.

A milestone is reached when the human-curated examples (train + eval of the latest
`training.DatasetCurated`) number at least that many; it is done once a run that carries it in
its `training.TrainingStarted` has reached the gate's decision (a `ModelEvaluated` that failed
the gate, or the version's `ModelPromoted`) or failed (`TrainingFailed`): see
`domain.model_registry.ends_run`. A finished adapter not yet decided on leaves it due, so a run
killed while it was evaluated is resumed. The highest reached milestone runs once, and only when
no run for it or a higher one has ended: reaching several at once (or while the bot was down)
trains once, for the highest.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from domain.event_types import TrainingEvents
from domain.events import RecordedEvent
from domain.model_registry import RUN_ENDING_TYPES, STARTED, ends_run

DEFAULT_MILESTONES = (100, 500, 1_000, 5_000, 10_000, 25_000, 50_000)
CURATED = TrainingEvents.DATASET_CURATED
EVENT_TYPES = (CURATED, STARTED, *RUN_ENDING_TYPES)


def parse_milestones(text: str) -> tuple[int, ...]:
    """The setting's text, e.g. "500, 100,1000", as sorted positive whole numbers, each once."""
    parts = [part.strip() for part in text.split(",") if part.strip()]
    try:
        counts = sorted({int(part) for part in parts})
    except ValueError:
        raise ValueError(f"milestones must be whole numbers, comma-separated: {text!r}") from None
    if not counts or counts[0] < 1:
        raise ValueError(f"milestones must be at least one positive number: {text!r}")
    return tuple(counts)


def due_milestone(curated: int, done: Iterable[int], milestones: Sequence[int]) -> int | None:
    """The highest milestone `curated` has reached, unless a run for it (or a higher one) is
    done already; None when nothing is due."""
    reached = [m for m in milestones if m <= curated]
    if not reached:
        return None
    highest = max(reached)
    if any(m >= highest for m in done):
        return None
    return highest


def next_milestone(curated: int, milestones: Sequence[int]) -> int | None:
    """The first milestone still ahead of `curated` (progress shown by `buddy stats`)."""
    return next((m for m in sorted(milestones) if m > curated), None)


@dataclass(frozen=True)
class MilestoneProgress:
    """What the milestone job needs from the events of `EVENT_TYPES`."""

    curated: int = 0  # examples in the latest curated dataset
    curated_position: int = 0  # store position of that DatasetCurated (0: never curated)
    done: frozenset[int] = field(default_factory=frozenset)  # milestones whose run ended

    def due(self, milestones: Sequence[int]) -> int | None:
        return due_milestone(self.curated, self.done, milestones)


def progress_of(events: Iterable[RecordedEvent]) -> MilestoneProgress:
    """Fold DatasetCurated and the training runs' events (in store order) into the progress.

    A milestone counts as run once a run for it ended: decided by the gate, or failed. A run
    that started and never ended was killed (the job holds its lock while training, so no live
    run is seen here), whether while training, before or while it was evaluated, or before the
    promotion: it is due again, and the pipeline resumes it where it stopped."""
    curated, position = 0, 0
    milestone_of: dict[str, int] = {}
    ended: set[int] = set()
    for event in events:
        version = str(event.payload.get("version"))
        if event.type == CURATED:
            curated, position = curated_examples(event.payload), event.position
        elif event.type == STARTED and isinstance(event.payload.get("milestone"), int):
            milestone_of[version] = int(event.payload["milestone"])
        elif version in milestone_of and ends_run(event):
            ended.add(milestone_of[version])
    return MilestoneProgress(curated, position, frozenset(ended))


def curated_examples(payload: dict[str, Any]) -> int:
    """Human-curated examples of a DatasetCurated payload (train + eval)."""
    return int(payload.get("examples") or 0)
