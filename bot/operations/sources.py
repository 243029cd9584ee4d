"""Registered sources over the real services: what `buddy sources add|sync|remove`, the
scheduler's sync job and `buddy sources` run. The index is caught up before a sync (the catalog
it compares with is a projection) and after it (the new chunks are searchable at once)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.operations.index import refresh_index
from domain.sources import Fetched, SourceKind, SourceSpec, kind_of, without_credentials

if TYPE_CHECKING:
    from adapters.sources.git import GitFetcher
    from bot.bootstrap import Services
    from domain.source_sync import SourceSync, SyncReport

log = logging.getLogger(__name__)


def git_fetcher(services: Services) -> GitFetcher:
    from adapters.sources.git import GitFetcher

    return GitFetcher(services.settings.data_dir / "sources")


def build_source_sync(services: Services) -> SourceSync:
    from adapters.sources.local import LocalFetcher
    from adapters.store.clock import SystemClock
    from domain.source_sync import SourceSync

    fetchers: dict[str, Any] = {
        "local": LocalFetcher(), "git": git_fetcher(services), "web": _LazyWebFetcher(),
    }  # fmt: skip
    return SourceSync(services.store, services.ingestion(), fetchers, SystemClock())


async def add_source(
    services: Services, origin: str, *, name: str | None, license_id: str | None,
    include: tuple[str, ...], exclude: tuple[str, ...], every_hours: float | None,
    ref: str | None,
) -> dict[str, Any]:  # fmt: skip
    kind: SourceKind = kind_of(origin)
    if kind == "local":
        origin = await asyncio.to_thread(lambda: str(Path(origin).expanduser().resolve()))
    stored = without_credentials(origin)
    spec = SourceSpec(name or _default_name(stored), kind, stored, license_id, include, exclude,
                      every_hours, ref)  # fmt: skip
    added = await services.source_sync().add(spec)
    if kind == "git":
        git_fetcher(services).remember_credentials(spec.name, origin)  # never in the store
    return added.as_json()


async def sync_sources(services: Services, name: str | None) -> list[SyncReport]:
    """Sync one source, or every registered one."""
    syncing = services.source_sync()
    names = [name] if name else [s.spec.name for s in await syncing.sources()]
    reports = []
    await refresh_index(services)
    for each in names:
        reports.append(await syncing.sync(each))
        await refresh_index(services)
    return reports


async def sync_due_sources(services: Services) -> dict[str, str]:
    """The scheduler's job: every source whose interval has passed (failures backed off)."""
    syncing = services.source_sync()
    if not await syncing.due():
        return {}
    await refresh_index(services)
    outcomes = await syncing.sync_due()
    await refresh_index(services)
    for name, outcome in outcomes.items():
        if outcome != "ok":
            log.warning("source %s: sync failed: %s", name, outcome)
    return outcomes


async def remove_source(services: Services, name: str) -> int:
    await refresh_index(services)
    removed = await services.source_sync().remove(name)
    git_fetcher(services).forget(name)
    await refresh_index(services)
    return removed


async def list_sources(services: Services) -> list[dict[str, Any]]:
    """Every source in the index (ingested or registered), with its registration when it has
    one: origin, revision, last sync, last error."""
    await services.projections.catch_up(services.knowledge_projection)
    syncing = services.source_sync()
    gone = {s.source_id for s in await syncing.sources(removed=True)}
    indexed = {s["source_id"]: s for s in await services.catalog.sources()
               if s["source_id"] not in gone}  # fmt: skip
    listed = []
    for registered in await syncing.sources():
        entry = registered.as_json()
        found = indexed.pop(registered.source_id, {})
        license_id = entry["license"] or entry["synced_license"] or found.get("license")
        listed.append({**entry, "license": license_id, "documents": found.get("documents", 0),
                       "chunks": found.get("chunks", 0), "root": entry["origin"],
                       "content_hash": found.get("content_hash"),
                       "registered_at": entry["added_at"]})  # fmt: skip
    for ingested in indexed.values():  # `buddy ingest` sources: one-shot, no schedule
        listed.append({**ingested, "kind": "ingested", "origin": ingested["root"],
                       "revision": ingested["content_hash"][:16], "last_sync": None,
                       "last_error": None, "every_hours": None})  # fmt: skip
    return sorted(listed, key=lambda s: str(s["name"]))


class _LazyWebFetcher:
    """The web fetcher, imported at its first fetch: its HTML extraction (trafilatura, lxml)
    takes a second to import, which `buddy sources` and the other kinds need not pay."""

    def __init__(self) -> None:
        self._fetcher: Any = None

    async def fetch(self, spec: SourceSpec, previous: Mapping[str, Any] | None) -> Fetched:
        if self._fetcher is None:
            from adapters.sources.web import WebFetcher

            self._fetcher = WebFetcher()
        fetched: Fetched = await self._fetcher.fetch(spec, previous)
        return fetched


def _default_name(origin: str) -> str:
    stem = origin.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git") or "source"
    cleaned = "".join(c if c.isalnum() or c in "._-" else "-" for c in stem)[:64]
    return cleaned.lstrip("._-") or "source"
