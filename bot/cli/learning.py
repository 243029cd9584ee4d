"""The learning loop's commands: `buddy curate` builds the training set from rated conversations
(with `--synthesize N`, first N question/answer pairs written from the knowledge base), `buddy
export` writes one split of it as chat-format JSONL. The curation itself is in
`bot.operations.datasets`, which the scheduler calls too."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bot.cli.common import JsonFlag, print_json, run
from bot.operations.datasets import (
    SPLITS,
    curate_dataset,
    current_dataset,
    export_lines,
    synthesize_examples,
)
from bot.settings import Settings
from domain.errors import BuddyError


async def curate(settings: Settings, as_json: bool, synthesize: int = 0) -> None:
    from bot.bootstrap import bootstrap

    async with bootstrap(settings) as services:
        synthesis = await synthesize_examples(services, synthesize) if synthesize else None
        summary = await curate_dataset(services)
    if synthesis is not None:
        summary |= {"synthesized": synthesis["created"], "synthesis": synthesis}
    if as_json:
        print_json(summary)
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


async def export(settings: Settings, out: Path, split: str) -> None:
    from bot.bootstrap import bootstrap

    if split not in SPLITS:
        raise BuddyError(f"unknown split {split!r}; choose from {', '.join(SPLITS)}")
    async with bootstrap(settings) as services:
        folder = await current_dataset(services)
    _write_export(folder, out, split)


def _write_export(folder: Path, out: Path, split: str) -> None:
    lines = export_lines(folder, split)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(lines), encoding="utf-8")
    typer.echo(f"wrote {len(lines)} {split} examples to {out}", err=True)


def register(app: typer.Typer) -> None:
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
