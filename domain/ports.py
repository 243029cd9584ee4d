"""Ports: what the domain needs from the outside world, as Protocols the adapters implement."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from domain.events import AppendResult, NewEvent, RecordedEvent
from domain.grounding.terms import TermStats
from domain.privacy import ScrubResult
from domain.retrieval import SearchHit


@dataclass(frozen=True)
class OutboxMessage:
    """A reply to deliver once, written in the same transaction as the events that caused it."""

    destination: str
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PendingMessage:
    id: int
    destination: str
    payload: dict[str, Any]
    attempts: int


class Clock(Protocol):
    def now(self) -> datetime: ...


class EventStore(Protocol):
    async def append(
        self,
        stream_id: str,
        expected_version: int | None,
        events: Sequence[NewEvent],
        *,
        idempotency_key: str | None = None,
        outbox: Sequence[OutboxMessage] = (),
    ) -> AppendResult:
        """Append atomically. `expected_version` is the stream's last version (-1: no stream,
        None: any). A seen `idempotency_key` returns the first result and appends nothing."""
        ...

    async def read_stream(self, stream_id: str, from_version: int = 0) -> list[RecordedEvent]: ...

    async def read_all(
        self, after_position: int = 0, limit: int = 1000, types: Sequence[str] | None = None
    ) -> list[RecordedEvent]: ...

    async def stream_version(self, stream_id: str) -> int: ...

    async def last_position(self) -> int: ...

    async def delivered(self, idempotency_key: str) -> bool:
        """Whether an append with this idempotency key was stored, by any process."""
        ...


class Outbox(Protocol):
    async def pending(self, limit: int = 100) -> list[PendingMessage]: ...

    def claim(self, message_id: int) -> AbstractAsyncContextManager[bool]:
        """Held while delivering: True when this process alone may deliver the message and it
        is still unsent (replicas poll the same outbox); freed at the end or if it dies."""
        ...

    async def mark_sent(self, message_id: int) -> None: ...

    async def mark_failed(self, message_id: int) -> None: ...


class Scrubber(Protocol):
    """Removes PII and secrets from text before anything is stored. Pure and offline."""

    def scrub(self, text: str) -> ScrubResult: ...


class Pseudonymizer(Protocol):
    """Stable pseudonyms for people and channels; the raw ids never go further than this."""

    def user(self, platform: str, workspace: str, user_id: str) -> str: ...

    def channel(self, platform: str, workspace: str, channel_id: str) -> str: ...


class KeyVault(Protocol):
    """Per-user data keys, one per user per day (the epoch), held apart from the events."""

    async def data_key(self, user: str, epoch: str) -> bytes:
        """The key for (user, epoch), created on first use."""
        ...

    async def existing_key(self, user: str, epoch: str) -> bytes | None: ...

    async def shred_user(self, user: str) -> int:
        """Delete every key of the user; returns how many were deleted."""
        ...

    async def shred_before(self, epoch: str) -> int:
        """Delete every key of an epoch before this one (retention)."""
        ...

    async def shred_key(self, user: str, epoch: str) -> int:
        """Delete one key (one message's, when it was sealed under a scope of its own)."""
        ...


class TextSealer(Protocol):
    """Encrypts scrubbed text under the author's key for the day it was written."""

    async def seal(
        self, user: str, text: str, written_at: datetime, scope: str | None = None
    ) -> str:
        """Sealed under the user's key for the day, or, with a `scope`, under a key of that day
        and scope alone, which can be shredded without touching the rest of the day."""
        ...

    async def shred(self, user: str, sealed: str) -> bool:
        """Shred the key this text was sealed under; whether there was one."""
        ...

    async def unseal(self, user: str, sealed: str) -> str | None:
        """The text, or None once its key has been shredded."""
        ...


class Embedder(Protocol):
    model_name: str
    dimension: int

    async def embed(self, texts: Sequence[str]) -> list[list[float]]: ...


class KnowledgeIndex(Protocol):
    """Hybrid search over the knowledge base (dense vectors + full text, fused)."""

    async def search(
        self, query: str, k: int = 5, *, sources: Collection[str] | None = None
    ) -> list[SearchHit]:
        """The best k chunks; with `sources`, only chunks of those source ids (a channel's
        scope), still k of them when the sources hold that many. None: every source."""
        ...

    async def term_stats(self, terms: Sequence[str]) -> TermStats:
        """How many chunks there are, and how many hold each term (for weighting words)."""
        ...


class JobLock(Protocol):
    """One holder of a named job at a time across every process on the database (replicas)."""

    def hold(self, name: str) -> AbstractAsyncContextManager[bool]:
        """Take the lock without waiting. Yields True, holding it until the block ends, or False
        at once when another holder has it (the caller then skips its work)."""
        ...


class AdapterBlobs(Protocol):
    """Trained adapters' files by sha256, where every replica on the database can read them (a
    replica serves or evaluates a version trained on another one's disk)."""

    async def put(self, sha256: str, data: bytes) -> None:
        """Store `data` under its sha256 (the caller's); storing the same bytes again is a no-op."""
        ...

    async def get(self, sha256: str) -> bytes | None:
        """The bytes stored under `sha256`, None when there are none. The caller checks them."""
        ...
