"""The learning loop's commands: `buddy curate` builds the training set from rated conversations
(with `--synthesize N`, first N question/answer pairs written from the knowledge base), `buddy
export` writes one split of it as chat-format JSONL."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from bot.settings import Settings
from domain.errors import BuddyError

if TYPE_CHECKING:
    from bot.bootstrap import Services

Runner = Callable[[Callable[[Settings], Coroutine[Any, Any, None]]], None]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
SPLITS = ("train", "eval", "all", "pairs")
log = logging.getLogger(__name__)


def dataset_dir(settings: Settings) -> Path:
    return settings.data_dir / "datasets" / "latest"


async def curate(settings: Settings, as_json: bool, synthesize: int = 0) -> None:
    from bot.bootstrap import bootstrap

    async with bootstrap(settings) as services:
        synthesis = await synthesize_examples(services, synthesize) if synthesize else None
        summary = await curate_dataset(services)
    if synthesis is not None:
        summary |= {"synthesized": synthesis["created"], "synthesis": synthesis}
    if as_json:
        sys.stdout.write(json.dumps(summary) + "\n")
        return
    if synthesis is not None:
        typer.echo(
            f"synthesized {synthesis['created']} of {synthesis['requested']} question/answer "
            f"pairs from the knowledge base ({synthesis['tried']} chunks tried)"
        )
    dropped = ", ".join(f"{k} {v}" for k, v in summary["dropped"].items()) or "none"
    typer.echo(
        f"curated {summary['examples']} examples and {summary['synthetic']} synthetic ones "
        f"({summary['train']} train, {summary['eval']} eval) and {summary['pairs']} preference "
        f"pairs from {summary['considered']} conversations; left out: {dropped}; "
        f"dataset {summary['dataset_hash']}"
    )


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
    from bot.bootstrap import ANSWER_PROMPT
    from bot.knowledge_commands import _progress, refresh_index
    from domain.synthesis import EmptyKnowledgeBase, SynthesisSettings, SynthesizeExamples

    await refresh_index(services)
    chunks = SqlChunkSource(services.db)
    if await chunks.count_chunks() == 0:  # before loading the model: say so at once
        raise EmptyKnowledgeBase()
    model = await services.served_model()  # the registry's version, as `buddy ask` answers
    options = SynthesisSettings()
    if getattr(model, "context_tokens", None):
        options.count_tokens = model.count_tokens
        options.budget_tokens = model.context_tokens - options.answer_max_tokens - 64
    synthesize = SynthesizeExamples(
        chunks, model, load_prompt("question", "v1"), load_prompt("answer", ANSWER_PROMPT),
        PatternScrubber(), services.store, options,
    )  # fmt: skip
    with _progress() as progress:
        task = progress.add_task("synthesizing examples", total=n)
        report = await synthesize(n, lambda done: progress.advance(task, done))
    return report.as_json()


async def export(settings: Settings, out: Path, split: str) -> None:
    from bot.bootstrap import bootstrap

    if split not in SPLITS:
        raise BuddyError(f"unknown split {split!r}; choose from {', '.join(SPLITS)}")
    async with bootstrap(settings) as services:
        folder = await current_dataset(services)
    _write_export(folder, out, split)


def _write_export(folder: Path, out: Path, split: str) -> None:
    if not (folder / "train.jsonl").exists():
        raise BuddyError("no curated dataset yet: run `buddy curate` first")
    parts = ["train", "eval"] if split == "all" else [split]
    lines = [line for part in parts for line in _read_lines(folder / f"{part}.jsonl")]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(lines), encoding="utf-8")
    typer.echo(f"wrote {len(lines)} {split} examples to {out}", err=True)


def _write_private(path: Path, records: list[dict[str, Any]]) -> None:
    """Curated examples are anonymised copies; still, only Buddy's user reads them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def _read_lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines(keepends=True) if path.exists() else []


def register(app: typer.Typer, run: Runner) -> None:
    @app.command("curate")
    def curate_command(
        synthesize: Annotated[
            int,
            typer.Option(
                "--synthesize",
                min=0,
                metavar="N",
                help="First have the served model write N question/answer pairs from the "
                "knowledge base (cold start; train split only).",
            ),
        ] = 0,
        json_output: JsonFlag = False,
    ) -> None:
        """Rebuild the curated dataset from rated conversations (consent and PII respected)."""
        run(lambda s: curate(s, json_output, synthesize))

    @app.command("export")
    def export_command(
        out: Annotated[Path, typer.Option("--out", help="The JSONL file to write.")],
        split: Annotated[str, typer.Option(help="train, eval, all or pairs.")] = "all",
    ) -> None:
        """Write the curated dataset (chat-format JSONL; pairs: preference pairs)."""

        run(lambda settings: export(settings, out, split))
