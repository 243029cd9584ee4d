"""Fakes of our own ports for fast service tests. The real adapters pass the same contract tests."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from domain.catalogue import Upcasters, validate_append
from domain.catalogue import upcasters as catalogue_upcasters
from domain.conversation import Answer, Exchange, PostedMessage
from domain.errors import ConcurrencyError
from domain.events import NO_STREAM, AppendResult, NewEvent, RecordedEvent
from domain.grounding.grounder import Grounder, GroundingSettings
from domain.grounding.relevance import AbstainRule
from domain.grounding.terms import TermStats, terms
from domain.language import GenerationRequest, GenerationUsage
from domain.ports import OutboxMessage, PendingMessage
from domain.privacy import ScrubResult
from domain.retrieval import SearchHit
from domain.sandbox import LanguageUnavailable, RunRequest, RunResult


class FixedClock:
    def __init__(self, moment: datetime | None = None) -> None:
        self.moment = moment or datetime(2026, 11, 23, 12, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.moment

    def advance(self, **delta: float) -> None:
        self.moment += timedelta(**delta)


class InMemoryEventStore:
    """The store's portable contract (tests/contract/test_event_store.py) in a list: the
    catalogue's validation on append, its upcasters on read. `events` holds what was stored."""

    def __init__(
        self, clock: FixedClock | None = None, *, upcasters: Upcasters | None = None
    ) -> None:
        self.events: list[RecordedEvent] = []
        self.outbox: list[OutboxMessage] = []
        self._seen: dict[str, AppendResult] = {}
        self._clock = clock or FixedClock()
        self._upcasters = catalogue_upcasters() if upcasters is None else upcasters

    async def append(
        self,
        stream_id: str,
        expected_version: int | None,
        events: Sequence[NewEvent],
        *,
        idempotency_key: str | None = None,
        outbox: Sequence[OutboxMessage] = (),
    ) -> AppendResult:
        validate_append(stream_id, events)
        if idempotency_key in self._seen:
            return self._seen[idempotency_key]
        current = await self.stream_version(stream_id)
        if expected_version is not None and expected_version != current:
            raise ConcurrencyError(stream_id, expected_version, current)
        for offset, new in enumerate(events, start=1):
            self.events.append(
                RecordedEvent(
                    position=len(self.events) + 1,
                    stream_id=stream_id,
                    version=current + offset,
                    type=new.type,
                    schema_version=new.schema_version,
                    payload=dict(new.payload),
                    metadata=dict(new.metadata),
                    recorded_at=self._clock.now(),
                )
            )
        self.outbox.extend(outbox)
        last = self.events[-1]
        result = AppendResult(
            stream_id, current + 1, last.version, last.position - len(events) + 1, last.position
        )
        if idempotency_key is not None:
            self._seen[idempotency_key] = AppendResult(**{**result.__dict__, "duplicate": True})
        return result

    async def read_stream(self, stream_id: str, from_version: int = 0) -> list[RecordedEvent]:
        found = [e for e in self.events if e.stream_id == stream_id and e.version >= from_version]
        return [self._upcasters.upcast(e) for e in found]

    async def read_all(
        self, after_position: int = 0, limit: int = 1000, types: Sequence[str] | None = None
    ) -> list[RecordedEvent]:
        found = [e for e in self.events if e.position > after_position]
        return [self._upcasters.upcast(e) for e in found if not types or e.type in types][:limit]

    async def stream_version(self, stream_id: str) -> int:
        versions = [e.version for e in self.events if e.stream_id == stream_id]
        return max(versions, default=NO_STREAM)

    async def last_position(self) -> int:
        return len(self.events)

    async def delivered(self, idempotency_key: str) -> bool:
        return idempotency_key in self._seen


class InMemoryKeyVault:
    def __init__(self) -> None:
        self.keys: dict[tuple[str, str], bytes] = {}

    async def data_key(self, user: str, epoch: str) -> bytes:
        if (user, epoch) not in self.keys:
            self.keys[(user, epoch)] = os.urandom(32)
        return self.keys[(user, epoch)]

    async def existing_key(self, user: str, epoch: str) -> bytes | None:
        return self.keys.get((user, epoch))

    async def shred_user(self, user: str) -> int:
        doomed = [key for key in self.keys if key[0] == user]
        for key in doomed:
            del self.keys[key]
        return len(doomed)

    async def shred_before(self, epoch: str) -> int:
        doomed = [key for key in self.keys if key[1] < epoch]
        for key in doomed:
            del self.keys[key]
        return len(doomed)

    async def shred_key(self, user: str, epoch: str) -> int:
        return 1 if self.keys.pop((user, epoch), None) is not None else 0


class HashingEmbedder:
    """Bag of hashed words in 384 dims: deterministic, fast, and similar texts score high."""

    dimension = 384

    def __init__(self, model_name: str = "test/hashing-embedder") -> None:
        self.model_name = model_name

    def encode(self, texts: Sequence[str]) -> Any:
        import hashlib
        import re

        import numpy as np

        matrix = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"[a-z0-9]+", text.lower()):
                bucket = int(hashlib.md5(word.encode()).hexdigest()[:8], 16) % self.dimension
                matrix[row, bucket] += 1.0
            norm = float(np.linalg.norm(matrix[row]))
            if norm:
                matrix[row] /= norm
        return matrix

    async def embed_array(self, texts: Sequence[str]) -> Any:
        return self.encode(texts)

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return [list(map(float, row)) for row in self.encode(texts)]


class NoScrub:
    def scrub(self, text: str) -> ScrubResult:
        return ScrubResult(text.replace("hunter2", "<SECRET>"))


class ScriptedIndex:
    """The scripted hits, best first. With `source_of` (chunk id -> source id), a scoped
    search keeps the scope's hits alone, as the real index does."""

    def __init__(self, hits: list[SearchHit], source_of: Mapping[str, str] | None = None) -> None:
        self.hits = hits
        self.queries: list[str] = []
        self.scopes: list[frozenset[str] | None] = []  # each search's `sources`
        self._source_of = dict(source_of or {})

    async def search(
        self, query: str, k: int = 5, *, sources: Collection[str] | None = None
    ) -> list[SearchHit]:
        self.queries.append(query)
        self.scopes.append(None if sources is None else frozenset(sources))
        hits = self.hits
        if sources is not None:
            hits = [hit for hit in hits if self._source_of.get(hit.chunk_id) in sources]
        return hits[:k]

    async def term_stats(self, wanted: Sequence[str]) -> TermStats:
        """Counted over the scripted hits, as the real index counts over its chunks."""
        chunk_terms = [terms(f"{hit.locator}\n{hit.text}") for hit in self.hits]
        counts = {term: sum(term in found for found in chunk_terms) for term in wanted}
        return TermStats(len(self.hits), counts)


def trusting_grounder(index: Any) -> Grounder:
    """Answers every question and keeps every reply: for tests of what happens around an
    answer (threads, swaps, deletions), not of whether it is grounded."""
    rule = AbstainRule(min_dense=0.0, min_coverage=0.0, min_unit=0.0)
    return Grounder(index, None, GroundingSettings(rule=rule, min_support=0.0))


class ScriptedModel:
    model_version = "scripted:1"
    adapter_hash = None

    def __init__(self, pieces: list[str], *, error: Exception | None = None, delay_s: float = 0):
        self.pieces, self.error, self.delay_s = pieces, error, delay_s
        self.requests: list[GenerationRequest] = []
        self.consumed = 0  # pieces handed out: a stopped reader takes fewer than all

    async def stream(
        self, request: GenerationRequest, usage: GenerationUsage
    ) -> AsyncIterator[str]:
        self.requests.append(request)
        for piece in self.pieces:
            await asyncio.sleep(self.delay_s)
            self.consumed += 1
            yield piece
        if self.error is not None:
            raise self.error
        usage.prompt_tokens, usage.completion_tokens = 17, len(self.pieces)


class RecordingPlatform:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str | None, Answer]] = []
        self.drafts: list[str] = []

    async def draft(
        self, answer_id: str, channel_id: str, thread_id: str | None, text_so_far: str
    ) -> None:
        self.drafts.append(text_so_far)

    async def send(self, channel_id: str, thread_id: str | None, answer: Answer) -> None:
        self.sent.append((channel_id, thread_id, answer))


class InMemoryConversationLog:
    """Thread history folded straight from the fake store's events."""

    def __init__(self, store: InMemoryEventStore) -> None:
        self._store = store

    async def thread(self, thread: str, limit: int) -> list[Exchange]:
        exchanges: dict[str, Exchange] = {}
        for event in self._store.events:
            payload = event.payload
            if event.type.endswith("Asked") and payload.get("thread") == thread:
                exchanges[payload["answer_id"]] = Exchange(
                    payload["answer_id"], payload["user"], payload["text"], None
                )
            elif event.type == "conversation.AnswerGiven" and payload["answer_id"] in exchanges:
                asked = exchanges[payload["answer_id"]]
                exchanges[asked.answer_id] = Exchange(
                    asked.answer_id, asked.user, asked.question, payload["text"]
                )
        return list(exchanges.values())[-limit:]


class InMemoryOutbox:
    """The fake store's outbox rows as pending messages, with sent and attempt marks."""

    def __init__(self, store: InMemoryEventStore) -> None:
        self._store = store
        self.sent: set[int] = set()
        self.attempts: dict[int, int] = {}
        self.claimed: set[int] = set()

    async def pending(self, limit: int = 100) -> list[PendingMessage]:
        rows = [
            PendingMessage(i, m.destination, dict(m.payload), self.attempts.get(i, 0))
            for i, m in enumerate(self._store.outbox, start=1)
            if i not in self.sent
        ]
        return rows[:limit]

    @asynccontextmanager
    async def claim(self, message_id: int) -> AsyncIterator[bool]:
        if message_id in self.claimed:
            yield False
            return
        self.claimed.add(message_id)
        try:
            yield message_id not in self.sent
        finally:
            self.claimed.discard(message_id)

    async def mark_sent(self, message_id: int) -> None:
        self.sent.add(message_id)

    async def mark_failed(self, message_id: int) -> None:
        self.attempts[message_id] = self.attempts.get(message_id, 0) + 1


class InMemoryMessageRefs:
    """Where Buddy's replies were posted (domain.conversation.MessageRefs), as a list."""

    def __init__(self) -> None:
        self.posted_messages: list[PostedMessage] = []

    async def remember(self, posted: PostedMessage) -> None:
        self.posted_messages.append(posted)

    async def answer_for(self, platform: str, channel_id: str, message_id: str) -> str | None:
        return next((p.answer_id for p in self.posted_messages if (p.platform, p.channel_id,
                     p.message_id) == (platform, channel_id, message_id)), None)  # fmt: skip

    async def posted(self, platform: str, answer_id: str) -> PostedMessage | None:
        return next((p for p in self.posted_messages
                     if (p.platform, p.answer_id) == (platform, answer_id)), None)  # fmt: skip

    async def bot_thread(self, platform: str, channel_id: str, thread_id: str) -> bool:
        return any((p.platform, p.channel_id, p.thread_id) == (platform, channel_id, thread_id)
                   for p in self.posted_messages)  # fmt: skip


class EchoSandbox:
    """Runs nothing: says what it was asked to run, mentions and all (the domain makes them
    inert), and keeps the requests. A language it does not list is unavailable, as a real
    sandbox says of a runtime it does not have."""

    def __init__(self) -> None:
        self.requests: list[RunRequest] = []

    async def run(self, request: RunRequest) -> RunResult:
        self.requests.append(request)
        if request.language not in self.languages():
            raise LanguageUnavailable(f"{request.language} is not installed here")
        return RunResult(f"ran {request.language}: {request.code.strip()}\n", "", 0, duration_ms=3)

    def languages(self) -> dict[str, bool]:
        return {"python": True, "bash": True}


# A 1x1 PNG: the scripted stats "chart" (the real one: bot.operations.stats_chart)
TINY_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000b49444154789c63"
    "60000200000500017a5eab3f0000000049454e44ae426082"
)


class ScriptedAdminOperations:
    """domain.admin.AdminOperations for platform tests: records each call, answers with fixed
    text. The real operations over the real services: tests/e2e/test_admin_commands.py."""

    EXPORT = b'{"messages": [1]}\n{"messages": [2]}\n'

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    async def stats(self) -> tuple[str, bytes]:
        self.calls.append(("stats", ()))
        return "**Stats** 3 answers", TINY_PNG

    async def export(self, split: str) -> tuple[int, bytes]:
        self.calls.append(("export", (split,)))
        return 2, self.EXPORT

    async def retrain(self, report: Any) -> str:
        self.calls.append(("retrain", ()))
        await report("Training: step 1/2.")
        await report("Training: step 2/2.")
        return "v1 passed the gate and is now served (eval_loss 1.0, served_eval_loss 2.0)."

    async def models(self) -> str:
        self.calls.append(("models", ()))
        return "* base base served"

    async def promote(self, version: str, by: str) -> str:
        self.calls.append(("promote", (version, by)))
        if version != "v1":
            from domain.model_registry import RegistryRefused

            raise RegistryRefused(f"no version {version}")
        return f"Promoted {version} (was base)."

    async def rollback(self, by: str) -> str:
        self.calls.append(("rollback", (by,)))
        return "Rolled back v1 -> base."

    async def forget(self, person: Any) -> str:
        self.calls.append(("forget", (person,)))
        return "Erased user."

    async def consent(self, person: Any, opted_out: bool) -> str:
        self.calls.append(("consent", (person, opted_out)))
        return "opted out" if opted_out else "opted in"

    async def exclude_channel(self, platform: str, workspace: str, channel_id: str) -> str:
        self.calls.append(("exclude_channel", (platform, workspace, channel_id)))
        return "Channel excluded."

    async def scope(
        self, platform: str, workspace: str, channel_id: str, sources: tuple[str, ...] | None
    ) -> str:
        self.calls.append(("scope", (platform, workspace, channel_id, sources)))
        if sources is None:
            return "This channel answers from every source."
        if not sources:
            return "This channel's scope is cleared: it answers from every source."
        return f"This channel now answers only from: {', '.join(sources)}."
