"""Channel scopes: the knowledge sources a channel, or a whole workspace, answers from.

An admin scopes a channel to some sources (`buddy scope set`, `/buddy scope` in chat): a
question asked there, follow-ups in its threads included, retrieves only from those sources.
A channel without a scope of its own follows its workspace's scope, if the workspace has one;
an unscoped channel searches everything.

Each change is a `knowledge.ChannelScoped` event in one stream: the platform, the workspace and
the channel as pseudonyms (never their ids; a workspace's own scope has the channel "*"), and
the sources by name and id. An empty list of sources removes the scope. `ChannelScopes` folds
the stream as it grows, so every process (replicas too) sees a change at its next question.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from domain.errors import BuddyError
from domain.event_types import KnowledgeEvents
from domain.events import NewEvent, RecordedEvent
from domain.ports import EventStore
from domain.privacy_service import PrivacyService

SCOPES_STREAM = "knowledge-scopes"
WHOLE_WORKSPACE = "*"  # the channel of a scope that holds for a whole workspace
_PAGE = 1000


class ScopeError(BuddyError):
    """A scope that cannot be set: a source nobody ingested."""


@dataclass(frozen=True)
class ScopedSource:
    name: str
    source_id: str


@dataclass(frozen=True)
class Scope:
    """The sources a channel (or, with the channel "*", a workspace) answers from."""

    platform: str
    workspace: str  # a pseudonym
    channel: str  # a pseudonym, or "*": every channel of the workspace without its own scope
    sources: tuple[ScopedSource, ...]
    set_at: datetime

    @property
    def source_ids(self) -> frozenset[str]:
        return frozenset(source.source_id for source in self.sources)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(source.name for source in self.sources)

    @property
    def whole_workspace(self) -> bool:
        return self.channel == WHOLE_WORKSPACE

    def as_json(self) -> dict[str, Any]:
        return {
            "platform": self.platform, "workspace": self.workspace, "channel": self.channel,
            "sources": list(self.names), "source_ids": [s.source_id for s in self.sources],
            "set_at": self.set_at.isoformat(),
        }  # fmt: skip


class ScopeReader(Protocol):
    """What answering needs: the source ids a channel may retrieve from (None: every source)."""

    async def sources_for(
        self, platform: str, workspace: str, channel_id: str
    ) -> frozenset[str] | None: ...


_Key = tuple[str, str, str]  # platform, workspace pseudonym, channel pseudonym or "*"


class ChannelScopes:
    """The scopes, folded from their stream: set, clear, and look up by platform ids."""

    def __init__(self, store: EventStore, privacy: PrivacyService) -> None:
        self._store = store
        self._privacy = privacy
        self._scopes: dict[_Key, Scope] = {}
        self._next_version = 0  # the stream's first version not folded yet
        self._lock = asyncio.Lock()

    def keys(self, platform: str, workspace: str, channel_id: str | None) -> _Key:
        """Where a channel's scope is kept; `channel_id` None or "*": the workspace's."""
        # The workspace's pseudonym is the one of its channel "*", which no platform has.
        space = self._privacy.channel(platform, workspace, WHOLE_WORKSPACE)
        if channel_id is None or channel_id == WHOLE_WORKSPACE:
            return platform, space, WHOLE_WORKSPACE
        return platform, space, self._privacy.channel(platform, workspace, channel_id)

    async def scopes(self) -> list[Scope]:
        """Every scope in force, by platform, workspace, then whole workspaces first."""
        await self._refresh()
        return [self._scopes[key] for key in sorted(self._scopes, key=_order)]

    async def own_scope(
        self, platform: str, workspace: str, channel_id: str | None
    ) -> Scope | None:
        """The channel's own scope (or the workspace's, for None or "*"), not inherited."""
        await self._refresh()
        return self._scopes.get(self.keys(platform, workspace, channel_id))

    async def scope_of(self, platform: str, workspace: str, channel_id: str) -> Scope | None:
        """The scope a question in the channel answers under: its own, else its workspace's."""
        await self._refresh()
        key = self.keys(platform, workspace, channel_id)
        own = self._scopes.get(key)
        return own or self._scopes.get((key[0], key[1], WHOLE_WORKSPACE))

    async def sources_for(
        self, platform: str, workspace: str, channel_id: str
    ) -> frozenset[str] | None:
        scope = await self.scope_of(platform, workspace, channel_id)
        return None if scope is None else scope.source_ids

    async def set(
        self, platform: str, workspace: str, channel_id: str | None, names: Sequence[str]
    ) -> Scope | None:
        """Scope the channel (None or "*": the workspace) to the named sources; no names
        removes its own scope. Refuses a name no ingested source has. Returns the scope the
        channel answers under afterwards (its workspace's, when it has none of its own)."""
        wanted = list(dict.fromkeys(name.strip() for name in names if name.strip()))
        known = await known_sources(self._store)
        unknown = [name for name in wanted if name not in known]
        if unknown:
            listed = ", ".join(sorted(known)) or "none yet (buddy ingest PATH --source-name NAME)"
            raise ScopeError(
                f"unknown source{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}: "
                f"the sources are {listed}"
            )
        key = self.keys(platform, workspace, channel_id)
        payload = {
            "platform": key[0], "workspace": key[1], "channel": key[2], "sources": wanted,
            "source_ids": [known[name] for name in wanted],
        }  # fmt: skip
        await self._store.append(
            SCOPES_STREAM, None, [NewEvent(KnowledgeEvents.CHANNEL_SCOPED, payload)]
        )
        if key[2] == WHOLE_WORKSPACE:
            return await self.own_scope(platform, workspace, None)
        assert channel_id is not None
        return await self.scope_of(platform, workspace, channel_id)

    async def clear(self, platform: str, workspace: str, channel_id: str | None) -> Scope | None:
        """Remove the channel's own scope; the scope it answers under afterwards."""
        return await self.set(platform, workspace, channel_id, [])

    async def _refresh(self) -> None:
        async with self._lock:  # one fold at a time: events apply once, in order
            events = await self._store.read_stream(SCOPES_STREAM, self._next_version)
            for event in events:
                if event.version >= self._next_version:
                    self._apply(event)
                    self._next_version = event.version + 1

    def _apply(self, event: RecordedEvent) -> None:
        if event.type != KnowledgeEvents.CHANNEL_SCOPED:
            return
        payload = event.payload
        key = (str(payload["platform"]), str(payload["workspace"]), str(payload["channel"]))
        sources = tuple(
            ScopedSource(str(name), str(source_id))
            for name, source_id in zip(payload["sources"], payload["source_ids"], strict=True)
        )
        if sources:
            self._scopes[key] = Scope(*key, sources, event.recorded_at)
        else:
            self._scopes.pop(key, None)


def _order(key: _Key) -> tuple[str, str, bool, str]:
    platform, workspace, channel = key
    return platform, workspace, channel != WHOLE_WORKSPACE, channel


async def known_sources(store: EventStore) -> dict[str, str]:
    """Every source in the index: registered by ingestion, less the registered sources removed
    since (`buddy sources remove`): name -> id."""
    known: dict[str, str] = {}
    after = 0
    kinds = [KnowledgeEvents.SOURCE_REGISTERED, KnowledgeEvents.SOURCE_REMOVED]
    while True:
        page = await store.read_all(after, _PAGE, types=kinds)
        for event in page:
            if event.type == KnowledgeEvents.SOURCE_REMOVED:
                gone = str(event.payload["source_id"])
                known = {name: found for name, found in known.items() if found != gone}
            else:
                known[str(event.payload["name"])] = str(event.payload["source_id"])
        if len(page) < _PAGE:
            return known
        after = page[-1].position


def describe(scope: Scope | None) -> str:
    """What a channel answers from, said in chat."""
    if scope is None:
        return "This channel is not scoped: it answers from every source."
    names = ", ".join(scope.names)
    if scope.whole_workspace:
        return f"This channel follows its workspace's scope: it answers only from {names}."
    return f"This channel answers only from {names}."
