"""The knowledge commands of the `buddy` CLI: ingest and search (sources: bot/cli/sources.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from bot.cli.common import JsonFlag, print_json, run
from bot.operations.index import refresh_index
from bot.progress import progress
from bot.settings import Settings
from domain.errors import InvalidEvent


async def ingest(
    settings: Settings, paths: list[Path], license_id: str | None, name: str | None,
    strategy: str, as_json: bool,
) -> None:  # fmt: skip
    from adapters.files.source_reader import read_source
    from bot.bootstrap import bootstrap
    from domain.ingestion import IngestReport

    if name and len(paths) > 1:
        raise InvalidEvent("--source-name names one source: give one PATH with it")
    async with bootstrap(settings) as services:
        await refresh_index(services)
        report = IngestReport()
        service = services.ingestion(strategy)
        for path in paths:
            snapshot = read_source(path, name=name, license_id=license_id)
            with progress() as bar:
                task = bar.add_task(f"reading {snapshot.name}", total=len(snapshot.files))
                await service.ingest(snapshot, report, _advance(bar, task))
        await refresh_index(services)
    if as_json:
        print_json(report.as_json())
    else:
        documents = report.as_json()["documents"]
        skipped = ", ".join(f"{k} {v}" for k, v in sorted(report.skipped.items())) or "none"
        typer.echo(
            f"ingested {', '.join(report.sources)}: {documents['added']} added, "
            f"{documents['changed']} changed, {documents['unchanged']} unchanged, "
            f"{documents['removed']} removed; {report.chunks} chunks; skipped: {skipped}"
        )


async def search(
    settings: Settings, query: str | None, batch: Path | None, k: int, as_json: bool
) -> None:
    from bot.bootstrap import bootstrap

    queries = _queries(query, batch)
    async with bootstrap(settings) as services:
        await refresh_index(services)
        index = services.knowledge_index()
        answers = [(q, await index.search(q, k)) for q in queries]
    if batch is not None:
        document = {
            "batch": [{"query": q, "results": [h.as_json() for h in hits]} for q, hits in answers]
        }
        print_json(document)
        return
    hits = answers[0][1]
    if as_json:
        print_json({"results": [hit.as_json() for hit in hits]})
        return
    for rank, hit in enumerate(hits, start=1):
        where = f"{hit.source}:{hit.start_line}-{hit.end_line}"
        typer.echo(f"[{rank}] {where}  {hit.locator}  ({hit.license}, score {hit.score:.4f})")
        typer.echo("    " + " ".join(hit.text.split())[:200])
    if not hits:
        typer.echo("nothing found", err=True)


def _queries(query: str | None, batch: Path | None) -> list[str]:
    if (query is None) == (batch is None):
        raise InvalidEvent('give either a query or --batch FILE: buddy search "how do I deploy?"')
    if batch is None:
        assert query is not None
        return [query]
    try:
        lines = batch.read_text().splitlines()
    except OSError as error:
        raise InvalidEvent(f"cannot read {batch}: {error.strerror}") from error
    return [line.strip() for line in lines if line.strip()]


def _advance(bar: Any, task: Any) -> Callable[[int], None]:
    return lambda steps: bar.advance(task, steps)


def register(app: typer.Typer) -> None:
    @app.command("ingest")
    def ingest_command(
        paths: Annotated[list[Path], typer.Argument(help="Files or folders to ingest.")],
        license_id: Annotated[
            str | None, typer.Option("--license", help="SPDX id; default: from a LICENSE file.")
        ] = None,
        source_name: Annotated[
            str | None, typer.Option("--source-name", help="Name the source.")
        ] = None,
        strategy: Annotated[
            str, typer.Option(help="Prose chunking: headings, paragraphs or fixed.")
        ] = "headings",
        json_output: JsonFlag = False,
    ) -> None:
        """Ingest docs and code into the knowledge base (incremental by content hash)."""
        run(lambda s: ingest(s, paths, license_id, source_name, strategy, json_output))

    @app.command("search")
    def search_command(
        query: Annotated[str | None, typer.Argument(help="What to look for.")] = None,
        k: Annotated[int, typer.Option("--k", min=1, max=100, help="How many results.")] = 5,
        batch: Annotated[
            Path | None, typer.Option("--batch", help="A file with one query per line.")
        ] = None,
        json_output: JsonFlag = False,
    ) -> None:
        """Hybrid search over the knowledge base (dense + full text)."""
        run(lambda s: search(s, query, batch, k, json_output))
