"""The knowledge commands of the `buddy` CLI: ingest, sources, search."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from bot.settings import Settings
from domain.errors import InvalidEvent

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

    from adapters.vector.index_projection import KnowledgeIndexProjection
    from bot.bootstrap import Services
    from domain.events import RecordedEvent

log = logging.getLogger(__name__)

Runner = Callable[[Callable[[Settings], Coroutine[Any, Any, None]]], None]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]


async def refresh_index(services: Services) -> None:
    """Bring the index up to date with the events; re-embed everything if the model changed.
    On PostgreSQL an embedder of another size also gets the embedding column retyped to its
    width, in the transaction that empties the index for the rebuild."""
    from adapters.store.embedding_column import check_indexable, embedding_width

    projection, runner = services.knowledge_projection, services.projections
    async with services.db.read() as conn:
        stale = await projection.stale_models(conn)
        width = await embedding_width(conn)
    dimension = services.embedder.dimension
    resize = width is not None and width != dimension
    if resize:
        check_indexable(dimension)  # before anything is dropped
    behind = await services.store.last_position() - await runner.position(projection)
    with _progress() as progress:
        if stale or resize:
            log.warning("the index was embedded with %s: re-embedding everything",
                        stale or f"{width}-dimensional vectors")  # fmt: skip
            task = progress.add_task("re-embedding", total=await services.store.last_position())
            target = _Resizing(projection, dimension) if resize else projection
            await runner.rebuild(target, on_batch=lambda n: progress.advance(task, n))
        elif behind > 0:
            task = progress.add_task("embedding", total=behind)
            await runner.catch_up(projection, on_batch=lambda n: progress.advance(task, n))


class _Resizing:
    """The index projection, whose reset also retypes the emptied embedding column."""

    def __init__(self, projection: KnowledgeIndexProjection, dimension: int) -> None:
        self._projection, self._dimension = projection, dimension
        self.name = projection.name

    async def apply(self, conn: AsyncConnection, events: Sequence[RecordedEvent]) -> None:
        await self._projection.apply(conn, events)

    async def reset(self, conn: AsyncConnection) -> None:
        from adapters.store.embedding_column import set_embedding_width

        await self._projection.reset(conn)
        await set_embedding_width(conn, self._dimension)


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
            with _progress() as progress:
                task = progress.add_task(f"reading {snapshot.name}", total=len(snapshot.files))
                await service.ingest(snapshot, report, _advance(progress, task))
        await refresh_index(services)
    if as_json:
        _print_json(report.as_json())
    else:
        documents = report.as_json()["documents"]
        skipped = ", ".join(f"{k} {v}" for k, v in sorted(report.skipped.items())) or "none"
        typer.echo(
            f"ingested {', '.join(report.sources)}: {documents['added']} added, "
            f"{documents['changed']} changed, {documents['unchanged']} unchanged, "
            f"{documents['removed']} removed; {report.chunks} chunks; skipped: {skipped}"
        )


async def sources(settings: Settings, as_json: bool) -> None:
    from bot.bootstrap import bootstrap

    async with bootstrap(settings) as services:
        await services.projections.catch_up(services.knowledge_projection)
        listed = await services.catalog.sources()
    if as_json:
        _print_json({"sources": listed})
        return
    for source in listed:
        typer.echo(
            f"{source['name']}  license {source['license']}  {source['documents']} documents, "
            f"{source['chunks']} chunks  hash {source['content_hash'][:12]}  "
            f"registered {source['registered_at'][:19]}"
        )
    if not listed:
        typer.echo("no sources yet: buddy ingest PATH", err=True)


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
        _print_json(document)
        return
    hits = answers[0][1]
    if as_json:
        _print_json({"results": [hit.as_json() for hit in hits]})
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


def _advance(progress: Any, task: Any) -> Callable[[int], None]:
    return lambda steps: progress.advance(task, steps)


def _print_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, ensure_ascii=False) + "\n")


def _stderr_console() -> Any:
    from rich.console import Console

    return Console(stderr=True)


def _progress() -> Any:
    """A progress bar on stderr, only where a person watches it (not in logs or pipes)."""
    from rich.progress import Progress

    console = _stderr_console()
    return Progress(console=console, transient=True, disable=not console.is_terminal)


def register(app: typer.Typer, run: Runner) -> None:
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

    @app.command("sources")
    def sources_command(json_output: JsonFlag = False) -> None:
        """List the registered sources with license and content hash."""
        run(lambda s: sources(s, json_output))

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
