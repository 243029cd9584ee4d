"""Registered sources kept current: add, sync, remove, and which are due on the schedule.

Each source's history is one stream (`registered-source-{id}`): SourceAdded, then a
SourceSynced (what changed, the revision, the fetcher's state: whole at the first sync, then
what changed of it) or SourceSyncFailed per sync, and SourceRemoved. A failed sync changes
nothing in the index; it is retried with backoff and reported in `buddy sources`, and never
stops the other sources' syncs. The sources are folded once and kept caught up with the new
events, so the scheduler's check every few minutes reads only what happened since."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from domain.catalogue import current_version
from domain.event_types import KnowledgeEvents
from domain.events import NO_STREAM, NewEvent, RecordedEvent
from domain.ingestion import Changes, IngestionService, IngestReport, KnownSource, digest
from domain.ports import Clock, EventStore
from domain.source_state import apply_patch, state_patch
from domain.sources import SourceError, SourceFetcher, SourceSpec, check_name

_K = KnowledgeEvents
TYPES = (_K.SOURCE_ADDED, _K.SOURCE_SYNCED, _K.SOURCE_SYNC_FAILED, _K.SOURCE_REMOVED)
RETRY_FIRST = timedelta(minutes=5)  # after a failure; doubled per failure, capped by the interval
MAX_ERROR = 500


def stream_of(name: str) -> str:
    return f"registered-source-{digest('source', name)}"


@dataclass
class RegisteredSource:
    spec: SourceSpec
    source_id: str
    added_at: datetime
    revision: str | None = None
    synced_at: datetime | None = None
    state: dict[str, Any] = field(default_factory=dict)
    license: str | None = None  # as last synced
    last_error: str | None = None
    failures: int = 0  # in a row, since the last successful sync
    attempted_at: datetime | None = None
    last_changes: dict[str, int] = field(default_factory=dict)
    removed: bool = False

    def next_due(self) -> datetime | None:
        """When the schedule syncs it next; None: by hand only (or removed)."""
        if self.removed or self.spec.every_hours is None:
            return None
        every = timedelta(hours=self.spec.every_hours)
        if self.failures:
            backoff: timedelta = min(RETRY_FIRST * (2 ** (self.failures - 1)), every)
            return (self.attempted_at or self.added_at) + backoff
        if self.synced_at is None:
            return self.added_at  # never synced: due at once
        return self.synced_at + every

    def as_json(self) -> dict[str, Any]:
        due = self.next_due()
        return {
            **self.spec.as_json(), "source_id": self.source_id,
            "added_at": self.added_at.isoformat(), "revision": self.revision,
            "last_sync": self.synced_at.isoformat() if self.synced_at else None,
            "synced_license": self.license, "last_changes": self.last_changes,
            "last_error": self.last_error, "failures": self.failures,
            "next_sync": due.isoformat() if due else None,
        }  # fmt: skip


def _at(event: RecordedEvent) -> datetime:
    """When it happened by the sync's clock (`at`), else when it was stored."""
    at = event.payload.get("at")
    return datetime.fromisoformat(at) if isinstance(at, str) else event.recorded_at


def apply(source: RegisteredSource | None, event: RecordedEvent) -> RegisteredSource | None:
    """The source after one event of its stream (a SourceAdded starts it afresh)."""
    payload = event.payload
    if event.type == _K.SOURCE_ADDED:
        spec = SourceSpec.from_json(payload["spec"])
        return RegisteredSource(spec, payload["source_id"], _at(event))
    if source is None:
        return None
    if event.type == _K.SOURCE_SYNCED:
        source.revision, source.synced_at = payload["revision"], _at(event)
        if "state_patch" in payload:
            source.state = apply_patch(source.state, payload["state_patch"])
        else:
            source.state = dict(payload.get("state") or {})
        source.license = payload.get("license")
        source.last_changes = dict(payload.get("changes") or {})
        source.last_error, source.failures = None, 0
        source.attempted_at = _at(event)
    elif event.type == _K.SOURCE_SYNC_FAILED:
        source.last_error, source.failures = payload["error"], payload["failures"]
        source.attempted_at = _at(event)
    elif event.type == _K.SOURCE_REMOVED:
        source.removed = True
    return source


@dataclass
class SyncReport:
    name: str
    revision: str
    report: IngestReport
    skipped: dict[str, int]
    seconds: float

    def as_json(self) -> dict[str, Any]:
        documents = self.report.as_json()["documents"]
        return {"name": self.name, "revision": self.revision, "documents": documents,
                "chunks": self.report.chunks, "skipped": self.skipped,
                "seconds": round(self.seconds, 3)}  # fmt: skip


class SourceSync:
    def __init__(
        self, store: EventStore, ingestion: IngestionService,
        fetchers: Mapping[str, SourceFetcher], clock: Clock,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:  # fmt: skip
        self._store = store
        self._ingestion = ingestion
        self._fetchers = fetchers
        self._clock = clock
        self._timer = timer
        self._folded: dict[str, RegisteredSource | None] = {}  # by stream
        self._position = 0  # of the last event folded
        self._lock = asyncio.Lock()  # one catch-up at a time: each event folds once, in order

    async def source(self, name: str) -> RegisteredSource | None:
        await self._catch_up()
        found = self._folded.get(stream_of(name))
        return None if found is None or found.removed else replace(found)

    async def sources(self, *, removed: bool = False) -> list[RegisteredSource]:
        """The registered sources by name (with `removed`: the removed ones instead)."""
        await self._catch_up()
        kept = (replace(s) for s in self._folded.values() if s is not None and s.removed == removed)
        return sorted(kept, key=lambda s: s.spec.name)

    async def _catch_up(self) -> None:
        """Fold the source events stored since the last call (positions are gapless and in
        commit order, so none is missed)."""
        types = list(TYPES)
        async with self._lock:
            while batch := await self._store.read_all(self._position, limit=1000, types=types):
                for event in batch:
                    self._folded[event.stream_id] = apply(self._folded.get(event.stream_id), event)
                self._position = batch[-1].position

    async def add(self, spec: SourceSpec) -> RegisteredSource:
        check_name(spec.name)
        if spec.kind not in self._fetchers:
            raise SourceError(f"{spec.kind} sources cannot be read here")
        if spec.kind == "web" and not spec.license:
            raise SourceError("a web source has no LICENSE file to read: give --license SPDX")
        if await self.source(spec.name) is not None:
            raise SourceError(f"a source named {spec.name!r} exists: remove it first")
        source_id = digest("source", spec.name)
        event = NewEvent(_K.SOURCE_ADDED, {"source_id": source_id, "name": spec.name,
                                           "spec": spec.as_json(), "at": self._now()})  # fmt: skip
        stream = stream_of(spec.name)
        previous = await self._store.read_stream(stream)  # a source removed, added again
        await self._store.append(stream, previous[-1].version if previous else NO_STREAM, [event])
        found = await self.source(spec.name)
        assert found is not None
        return found

    async def remove(self, name: str) -> int:
        """Unregister the source and remove its documents from the index; how many."""
        if await self.source(name) is None:
            raise SourceError(f"no source named {name!r}")
        removed = await self._ingestion.remove_source(name)
        event = NewEvent(_K.SOURCE_REMOVED, {"source_id": digest("source", name),
                                             "documents": removed})  # fmt: skip
        await self._store.append(stream_of(name), None, [event])
        return removed

    async def sync(
        self, name: str, progress: Callable[[int], None] = lambda _n: None
    ) -> SyncReport:
        """Fetch what changed and apply it. On failure nothing in the index changes; the
        failure is recorded (for backoff and `buddy sources`) and raised."""
        source = await self.source(name)
        if source is None:
            raise SourceError(f"no source named {name!r}")
        started = self._timer()
        try:
            fetched = await self._fetchers[source.spec.kind].fetch(
                source.spec, source.state or None
            )
            license_id = _license(source.spec, fetched.license)
        except SourceError as error:
            await self._failed(source, str(error))
            raise
        report = IngestReport()
        known = KnownSource(name, source.spec.origin, license_id)
        changes = Changes(fetched.files, fetched.deleted, fetched.complete, fetched.citation)
        await self._ingestion.ingest_changes(known, changes, report, progress)
        report.skipped.update(fetched.skipped)
        result = SyncReport(name, fetched.revision, report, dict(fetched.skipped),
                            self._timer() - started)  # fmt: skip
        payload = {"source_id": source.source_id, "revision": fetched.revision,
                   "license": license_id, "changes": report.as_json()["documents"],
                   "chunks": report.chunks, "skipped": dict(fetched.skipped),
                   "seconds": round(result.seconds, 3), "at": self._now()}  # fmt: skip
        if source.synced_at is None:
            payload["state"] = fetched.state
        else:
            payload["state_patch"] = state_patch(source.state, fetched.state)
        version = current_version(_K.SOURCE_SYNCED)
        synced = NewEvent(_K.SOURCE_SYNCED, payload, schema_version=version)
        await self._store.append(stream_of(name), None, [synced])
        return result

    async def due(self) -> list[str]:
        now = self._clock.now()
        return [s.spec.name for s in await self.sources()
                if (due := s.next_due()) is not None and due <= now]  # fmt: skip

    async def sync_due(self) -> dict[str, str]:
        """Sync every source that is due, each on its own: a failing one is recorded and the
        others go on. name -> "ok" or the error."""
        outcomes: dict[str, str] = {}
        for name in await self.due():
            try:
                await self.sync(name)
                outcomes[name] = "ok"
            except SourceError as error:
                outcomes[name] = str(error)
        return outcomes

    def _now(self) -> str:
        return self._clock.now().isoformat()

    async def _failed(self, source: RegisteredSource, error: str) -> None:
        payload = {"source_id": source.source_id, "error": error[:MAX_ERROR],
                   "failures": source.failures + 1, "at": self._now()}  # fmt: skip
        await self._store.append(stream_of(source.spec.name), None,
                                 [NewEvent(_K.SOURCE_SYNC_FAILED, payload)])  # fmt: skip


def _license(spec: SourceSpec, found: str | None) -> str:
    """The admin's SPDX id wins; else the source's own; a Git repository or site whose license
    is unknown is refused (a local folder keeps `buddy ingest`'s "unknown")."""
    if spec.license:
        return spec.license
    if found and found != "unknown":
        return found
    if spec.kind == "local":
        return "unknown"
    raise SourceError(
        f"the license of {spec.name} is unknown: give it with --license SPDX (e.g. MIT)"
    )
