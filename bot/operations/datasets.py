"""The curated training set: curate it (`buddy curate` and the scheduler's milestone job), read
it fresh after a consent change, purge it on one, and synthesize question/answer pairs for a cold
start."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.progress import progress
from bot.settings import Settings
from domain.errors import BuddyError

if TYPE_CHECKING:
    from bot.bootstrap import Services

log = logging.getLogger(__name__)


def dataset_dir(settings: Settings) -> Path:
    return settings.data_dir / "datasets" / "latest"


async def curate_dataset(services: Services) -> dict[str, Any]:
    """Curate, write the splits under `dataset_dir`, and return the summary (`buddy curate` and
    the scheduler's milestone job alike)."""
    from adapters.store.curation_source import SqlCurationSource
    from domain.curation import CurateDataset, next_milestone

    settings = services.settings
    source = SqlCurationSource(services.db, services.store, services.projections)
    # Read before the interactions: a consent change that lands while curating makes this
    # dataset stale, and the next reader curates again.
    consent_position = await source.consent_position()
    curator = CurateDataset(source, await services.privacy(), services.embedder, services.store)
    dataset = await curator()
    folder = dataset_dir(settings)
    for name, examples in (("train", dataset.train), ("eval", dataset.eval),
                           ("pairs", dataset.pairs)):  # fmt: skip
        _write_private(folder / f"{name}.jsonl", examples)
    goal = next_milestone(dataset.size, settings.milestone_counts)  # BUDDY_MILESTONES
    summary = dataset.summary() | {"next_milestone": goal}
    _write_private(folder / "summary.json", [summary | {"consent_position": consent_position}])
    return summary


async def current_dataset(services: Services) -> Path:
    """The curated dataset's folder, curated again first when someone opted out, was erased or
    had a channel excluded since it was written (here or on another replica): no export,
    training run or evaluation reads text that is no longer ours to use."""
    from adapters.store.curation_source import SqlCurationSource

    folder = dataset_dir(services.settings)
    written = _consent_position_of(folder)
    if written is None:
        return folder  # nothing curated yet: the reader says so
    source = SqlCurationSource(services.db, services.store, services.projections)
    if await source.consent_position() > written:
        log.info("consent changed since the dataset was curated: curating it again")
        await curate_dataset(services)
    return folder


async def purge_dataset(services: Services) -> bool:
    """After a consent change: curate again at once when a dataset is on this disk, so its
    files stop holding the text of whoever left. True when it did."""
    if _consent_position_of(dataset_dir(services.settings)) is None:
        return False
    await curate_dataset(services)
    return True


async def consent_changed(services: Services) -> None:
    """After forget, optout, optin or exclude-channel: the consent projection first (the server
    reads it), then the curated files on this disk (another replica's are curated again when
    next read)."""
    await services.refresh_consent()
    await purge_dataset(services)


SPLITS = ("train", "eval", "all", "pairs")


def export_lines(folder: Path, split: str) -> list[str]:
    """One split of the curated dataset in `folder` as JSONL lines (`all`: train then eval)."""
    if split not in SPLITS:
        raise BuddyError(f"unknown split {split!r}; choose from {', '.join(SPLITS)}")
    if not (folder / "train.jsonl").exists():
        raise BuddyError("no curated dataset yet: run `buddy curate` first")
    parts = ["train", "eval"] if split == "all" else [split]
    return [line for part in parts for line in _read_lines(folder / f"{part}.jsonl")]


def _read_lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines(keepends=True) if path.exists() else []


def _consent_position_of(folder: Path) -> int | None:
    """The consent position the dataset in `folder` was curated at; None when there is none
    (-1 for a dataset written before curation recorded it: stale at the first consent change)."""
    try:
        first = (folder / "summary.json").read_text(encoding="utf-8").splitlines()[0]
        return int(json.loads(first).get("consent_position", -1))
    except (OSError, IndexError, ValueError, AttributeError):
        return None


async def synthesize_examples(services: Services, n: int) -> dict[str, Any]:
    """The served model writes up to `n` question/answer pairs from knowledge-base chunks that
    have none yet (cold start); returns {requested, created, tried, rejected}."""
    from adapters.llm.prompt_files import load_prompt
    from adapters.privacy.scrubber import PatternScrubber
    from adapters.vector.chunk_source import SqlChunkSource
    from bot.bootstrap import ANSWER_PROMPT, token_window
    from bot.operations.index import refresh_index
    from domain.synthesis import EmptyKnowledgeBase, SynthesisSettings, SynthesizeExamples

    await refresh_index(services)
    chunks = SqlChunkSource(services.db)
    if await chunks.count_chunks() == 0:  # before loading the model: say so at once
        raise EmptyKnowledgeBase()
    model = await services.served_model()  # the registry's version, as `buddy ask` answers
    options = SynthesisSettings()
    if window := token_window(model):
        options.count_tokens, context = window
        options.budget_tokens = context - options.answer_max_tokens - 64
    synthesize = SynthesizeExamples(
        chunks, model, load_prompt("question", "v1"), load_prompt("answer", ANSWER_PROMPT),
        PatternScrubber(), services.store, options,
    )  # fmt: skip
    with progress() as bar:
        task = bar.add_task("synthesizing examples", total=n)
        report = await synthesize(n, lambda done: bar.advance(task, done))
    return report.as_json()


def _write_private(path: Path, records: list[dict[str, Any]]) -> None:
    """Curated examples are anonymised copies; still, only Buddy's user reads them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
