"""Bring the knowledge index up to date with the events (`buddy ingest`, `ask`, `chat`, `serve`
and the benchmarks)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from bot.progress import progress

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

    from adapters.vector.index_projection import KnowledgeIndexProjection
    from bot.bootstrap import Services
    from domain.events import RecordedEvent

log = logging.getLogger(__name__)


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
    with progress() as bar:
        if stale or resize:
            log.warning("the index was embedded with %s: re-embedding everything",
                        stale or f"{width}-dimensional vectors")  # fmt: skip
            task = bar.add_task("re-embedding", total=await services.store.last_position())
            target = _Resizing(projection, dimension) if resize else projection
            await runner.rebuild(target, on_batch=lambda n: bar.advance(task, n))
        elif behind > 0:
            task = bar.add_task("embedding", total=behind)
            await runner.catch_up(projection, on_batch=lambda n: bar.advance(task, n))


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
