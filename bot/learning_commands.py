"""The learning loop's commands: `buddy curate` builds the training set from rated conversations,
`buddy export` writes one split of it as chat-format JSONL."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any

import typer

from bot.settings import Settings
from domain.errors import BuddyError

Runner = Callable[[Callable[[Settings], Coroutine[Any, Any, None]]], None]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
SPLITS = ("train", "eval", "all", "pairs")


def dataset_dir(settings: Settings) -> Path:
    return settings.data_dir / "datasets" / "latest"


async def curate(settings: Settings, as_json: bool) -> None:
    from adapters.store.curation_source import SqlCurationSource
    from bot.bootstrap import bootstrap
    from domain.curation import CurateDataset, next_milestone

    async with bootstrap(settings) as services:
        source = SqlCurationSource(services.db, services.store, services.projections)
        curator = CurateDataset(source, await services.privacy(), services.embedder, services.store)
        dataset = await curator()
    folder = dataset_dir(settings)
    for name, examples in (("train", dataset.train), ("eval", dataset.eval),
                           ("pairs", dataset.pairs)):  # fmt: skip
        _write_private(folder / f"{name}.jsonl", examples)
    summary = dataset.summary() | {"next_milestone": next_milestone(dataset.size)}
    _write_private(folder / "summary.json", [summary])
    if as_json:
        sys.stdout.write(json.dumps(summary) + "\n")
        return
    dropped = ", ".join(f"{k} {v}" for k, v in summary["dropped"].items()) or "none"
    typer.echo(
        f"curated {summary['examples']} examples ({summary['train']} train, {summary['eval']} "
        f"eval) and {summary['pairs']} preference pairs from {summary['considered']} "
        f"conversations; left out: {dropped}; dataset {summary['dataset_hash']}"
    )


def export(settings: Settings, out: Path, split: str) -> None:
    folder = dataset_dir(settings)
    if split not in SPLITS:
        raise BuddyError(f"unknown split {split!r}; choose from {', '.join(SPLITS)}")
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
    def curate_command(json_output: JsonFlag = False) -> None:
        """Rebuild the curated dataset from rated conversations (consent and PII respected)."""
        run(lambda s: curate(s, json_output))

    @app.command("export")
    def export_command(
        out: Annotated[Path, typer.Option("--out", help="The JSONL file to write.")],
        split: Annotated[str, typer.Option(help="train, eval, all or pairs.")] = "all",
    ) -> None:
        """Write the curated dataset (chat-format JSONL; pairs: preference pairs)."""

        async def work(settings: Settings) -> None:
            export(settings, out, split)

        run(work)
