"""Answering a question: store it (scrubbed, sealed), retrieve, generate, store the answer with its
lineage, reply. Any failure is stored as AnswerFailed and the asker still gets a reply. A question
in a thread that already has answers is a follow-up: the last few exchanges go into the prompt.
A question in a scoped channel (domain/scopes.py) retrieves only from the channel's sources; the
scope is resolved when the question is stored and recorded with it, so its answer (after a
restart too) and the follow-ups in its thread, asked in the same channel, keep to it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from domain.answer_records import failure_text, passages_of, reason_for, sources_of, stored_answer
from domain.catalogue import current_version
from domain.conversation import (
    Answer,
    ChatPlatform,
    ConversationLog,
    Exchange,
    Question,
    answer_id_for,
    thread_key,
)
from domain.errors import BuddyError, GenerationFailed
from domain.event_types import ConversationEvents
from domain.events import NewEvent
from domain.grounding.followups import standalone_query
from domain.grounding.grounder import Grounder, Grounding, GroundingSettings, Outcome
from domain.grounding.support import released_until
from domain.language import (
    GenerationRequest,
    GenerationUsage,
    LanguageModel,
    PromptTemplate,
    fit_context,
    format_passages,
)
from domain.ports import EventStore, KnowledgeIndex, OutboxMessage
from domain.privacy_service import PrivacyService
from domain.retrieval import SearchHit
from domain.scopes import ScopeReader

_ASKED = ConversationEvents.ASKED
_ENDED = (ConversationEvents.ANSWER_GIVEN, ConversationEvents.ANSWER_FAILED)

NOTHING_FOUND = (
    "I couldn't find anything about that in the team's docs, so I won't guess. "
    "Try rephrasing, or add the relevant docs with `buddy ingest`."
)


@dataclass
class AnsweringSettings:
    k: int = 5
    generate: bool = True  # False: quote the passages (extractive) without asking the model
    # Stop the model at its first unsupported sentence (its answer will be replaced anyway).
    stop_unsupported: bool = True
    budget_tokens: int = 1500
    max_tokens: int = 200  # a concise answer; quoting the docs at length is the extract's job
    temperature: float = 0.2
    timeout_s: float = 120.0
    history_turns: int = 3  # earlier exchanges of the thread offered to the prompt
    history_share: float = 0.34  # of the prompt budget, at most; the oldest turns go first
    count_tokens: Callable[[str], int] = field(default=lambda text: len(text) // 3 + 1)


@dataclass
class _Turn:
    """What one answer is being built from, and how long each step took."""

    answer_id: str
    user: str
    stream: str
    thread: str
    text: str
    channel_id: str
    thread_id: str | None
    started: float
    sources: frozenset[str] | None = None  # the channel's scope; None: every source
    history: list[tuple[str, str]] = field(default_factory=list)
    timings: dict[str, int] = field(default_factory=dict)

    def lap(self, step: str, since: float) -> float:
        now = time.perf_counter()
        self.timings[step] = self.timings.get(step, 0) + int((now - since) * 1000)
        return now


class AnswerQuestion:
    def __init__(
        self,
        store: EventStore,
        privacy: PrivacyService,
        index: KnowledgeIndex,
        model: LanguageModel,
        template: PromptTemplate,
        platform: ChatPlatform,
        settings: AnsweringSettings | None = None,
        log: ConversationLog | None = None,
        grounder: Grounder | None = None,
        scopes: ScopeReader | None = None,
    ) -> None:
        self._store = store
        self._privacy = privacy
        self._index = index
        self._model = model
        self._template = template
        self._platform = platform
        self._settings = settings or AnsweringSettings()
        self._log = log
        self._grounder = grounder or Grounder(index, None, GroundingSettings(k=self._settings.k))
        self._scopes = scopes

    @property
    def settings(self) -> AnsweringSettings:
        return self._settings

    @property
    def model_version(self) -> str:
        return self._model.model_version

    async def __call__(self, question: Question) -> Answer:
        """Store the question, answer it and reply, all now (the local channel)."""
        turn, duplicate = await self._ask(question, destination=None)
        if duplicate:  # a redelivered question: reply with what the first delivery stored
            stored = await self._resume(turn.answer_id, question.channel_id, question.thread_id)
            if stored is not None:
                return stored
        return await self._complete(turn)

    async def accept(self, question: Question, destination: str) -> str:
        """Store the question with its pending reply (an outbox job for `destination`) and
        nothing more: a platform acks after this, and `resume` answers it, now or after a
        restart. A redelivered question is stored once. Returns the answer id."""
        turn, _ = await self._ask(question, destination)
        return turn.answer_id

    async def resume(self, job: dict[str, Any]) -> Answer | None:
        """Finish an accepted question from its outbox job: generate the answer unless one is
        stored, then reply. None when there is nothing to reply (the asker was erased)."""
        thread_id = job.get("thread_id")
        return await self._resume(
            str(job["answer_id"]),
            str(job["channel_id"]),
            None if thread_id is None else str(thread_id),
        )

    async def _complete(self, turn: _Turn) -> Answer:
        try:
            answer = await asyncio.wait_for(self._answer(turn), timeout=self._settings.timeout_s)
        except (BuddyError, TimeoutError) as error:
            answer = await self._failed(turn, error)
        await self._platform.send(turn.channel_id, turn.thread_id, answer)
        return answer

    async def _ask(self, question: Question, destination: str | None) -> tuple[_Turn, bool]:
        started = time.perf_counter()
        person = question.person
        user = self._privacy.pseudonym(person)
        channel = self._privacy.channel(person.platform, person.workspace, question.channel_id)
        earlier = await self._earlier(channel, question.thread_id)
        answer_id = answer_id_for(user, question.platform_event_id)
        # The conversation's texts get a key of their own: deleting the question shreds them.
        protected = await self._privacy.protect(user, question.text, scope=answer_id)
        thread = thread_key(channel, question.thread_id or answer_id)
        payload: dict[str, Any] = {
            "answer_id": answer_id, "user": user, "channel": channel, "thread": thread,
            "text": protected.sealed, "redactions": list(protected.redactions),
        }  # fmt: skip
        if earlier:
            payload["follows"] = earlier[-1].answer_id
        sources = await self._scope(question)
        if sources is not None:
            payload["scope"] = sorted(sources)
        kind = ConversationEvents.FOLLOW_UP_ASKED if earlier else ConversationEvents.QUESTION_ASKED
        # No platform id in the event (it names the channel and the message): the answer id is
        # derived from it, and only the append's idempotency key carries it.
        stream = f"conversation-{answer_id}"
        # The reply's destination is the platform's own channel and thread: the pending job
        # must be able to reply after a restart, and pseudonyms cannot be reversed.
        jobs = [] if destination is None else [OutboxMessage(destination, {
            "job": "answer", "answer_id": answer_id, "channel_id": question.channel_id,
            "thread_id": question.thread_id,
        })]  # fmt: skip
        result = await self._store.append(
            stream, None, [NewEvent(kind, payload)],
            idempotency_key=question.platform_event_id, outbox=jobs,
        )  # fmt: skip
        turn = _Turn(
            answer_id, user, stream, thread, question.text, question.channel_id,
            question.thread_id, started, sources,
        )  # fmt: skip
        turn.history = await self._readable(earlier)
        turn.lap("storage", started)
        return turn, result.duplicate

    async def _resume(
        self, answer_id: str, channel_id: str, thread_id: str | None
    ) -> Answer | None:
        stream = f"conversation-{answer_id}"
        events = await self._store.read_stream(stream)
        asked = next((e for e in events if e.type in _ASKED), None)
        if asked is None:
            return None
        user = asked.payload["user"]
        ended = next((e for e in events if e.type in _ENDED), None)
        if ended is not None:
            answer = await stored_answer(self._privacy, user, ended.type, ended.payload)
            if answer is not None:
                await self._platform.send(channel_id, thread_id, answer)
            return answer
        text = await self._privacy.reveal(user, asked.payload["text"])
        if text is None:
            return None  # erased before it was answered: nothing left to answer
        thread = str(asked.payload.get("thread") or thread_key("", answer_id))
        scope = asked.payload.get("scope")
        turn = _Turn(
            answer_id, user, stream, thread, text, channel_id, thread_id, time.perf_counter(),
            None if scope is None else frozenset(scope),
        )  # fmt: skip
        if self._log is not None:
            earlier = await self._log.thread(thread, self._settings.history_turns + 1)
            turn.history = await self._readable([e for e in earlier if e.answer_id != answer_id])
        return await self._complete(turn)

    async def _scope(self, question: Question) -> frozenset[str] | None:
        """The source ids the question's channel is scoped to; None: every source."""
        if self._scopes is None:
            return None
        person = question.person
        return await self._scopes.sources_for(
            person.platform, person.workspace, question.channel_id
        )

    async def _earlier(self, channel: str, thread_id: str | None) -> list[Exchange]:
        if thread_id is None or self._log is None:
            return []
        return await self._log.thread(thread_key(channel, thread_id), self._settings.history_turns)

    async def _readable(self, earlier: list[Exchange]) -> list[tuple[str, str]]:
        """Earlier exchanges in plain text; shredded (erased) or failed ones are left out."""
        turns: list[tuple[str, str]] = []
        for exchange in earlier:
            if exchange.answer is None:
                continue
            question = await self._privacy.reveal(exchange.user, exchange.question)
            answer = await self._privacy.reveal(exchange.user, exchange.answer)
            if question is not None and answer is not None:
                turns.append((question, answer))
        return turns

    async def _answer(self, turn: _Turn) -> Answer:
        text = turn.text
        lap = time.perf_counter()
        query = standalone_query([question for question, _ in turn.history], text)
        grounding = await self._grounder.ground(query, turn.sources)
        lap = turn.lap("retrieval", lap)
        usage = GenerationUsage()
        if not grounding.answerable:
            outcome = self._grounder.declined(NOTHING_FOUND)
            return await self._given(turn, outcome, grounding, usage, lap)
        if not self._settings.generate:
            return await self._given(
                turn, self._grounder.extractive(grounding, NOTHING_FOUND), grounding, usage, lap
            )
        hits = grounding.hits
        history = self._fitted_history(turn.history)
        passages = fit_context(
            self._template, text, passages_of(hits),
            budget_tokens=self._settings.budget_tokens,
            count_tokens=self._settings.count_tokens, history=history,
        )  # fmt: skip
        request = GenerationRequest(
            self._template.render(text, format_passages(passages), history),
            max_tokens=self._settings.max_tokens, temperature=self._settings.temperature,
            stop=self._template.stop,
        )  # fmt: skip
        lap = turn.lap("prompt", lap)
        # fit_context keeps the leading passages, and passage n is hits[n - 1].
        used = hits[: len(passages)]
        reply = await self._generate(turn, request, usage, used)
        lap = turn.lap("generation", lap)
        outcome = self._grounder.judge(grounding, text, reply, used, NOTHING_FOUND)
        lap = turn.lap("checking", lap)
        return await self._given(turn, outcome, grounding, usage, lap)

    def _fitted_history(self, turns: list[tuple[str, str]]) -> str:
        budget = int(self._settings.budget_tokens * self._settings.history_share)
        kept = list(turns)
        while kept and self._settings.count_tokens(self._template.history(kept)) > budget:
            kept.pop(0)
        return self._template.history(kept)

    async def _generate(
        self,
        turn: _Turn,
        request: GenerationRequest,
        usage: GenerationUsage,
        used: list[SearchHit],
    ) -> str:
        """The model's reply, shown sentence by sentence once each is checked against the
        passages; the first unsupported sentence stops the model (the answer will be quoted
        from the passages instead, so writing on would only cost time)."""
        started = time.perf_counter()
        pieces: list[str] = []
        shown = 0
        checked = self._grounder.checks_replies
        stream = self._model.stream(request, usage)
        try:
            async for piece in stream:
                if not pieces:
                    turn.lap("first_token", started)
                pieces.append(piece)
                text = "".join(pieces)
                ready = released_until(text, shown) if checked else len(text)
                if ready > shown:
                    if not self._grounder.releasable(text[shown:ready], used):
                        if self._settings.stop_unsupported:
                            break
                        continue
                    shown = ready
                    await self._platform.draft(
                        turn.answer_id, turn.channel_id, turn.thread_id, text[:shown]
                    )
        finally:
            closing = getattr(stream, "aclose", None)
            if closing is not None:
                await closing()
        reply = "".join(pieces).strip()
        if not reply:
            raise GenerationFailed("the model returned an empty answer")
        return reply

    async def _given(
        self, turn: _Turn, outcome: Outcome, grounding: Grounding, usage: GenerationUsage,
        lap: float,
    ) -> Answer:  # fmt: skip
        reply, used = outcome.text, outcome.used
        latency_ms = int((time.perf_counter() - turn.started) * 1000)
        sealed = await self._privacy.protect(turn.user, reply, scope=turn.answer_id)
        sources = sources_of(used)
        lineage: dict[str, Any] = {
            "answer_id": turn.answer_id,
            "thread": turn.thread,
            "text": sealed.sealed,
            "model_version": usage.model_version or self._model.model_version,
            # The writer's own hash, even None (the base), when a swappable model named it.
            "adapter_hash": usage.adapter_hash if usage.model_version else self._model.adapter_hash,
            "prompt_version": self._template.version,
            "chunks": [{"chunk_id": h.chunk_id, "score": round(h.score, 6)} for h in used],
            "sources": [
                {
                    "reference": s.reference,
                    "path": s.path,
                    "license": s.license,
                    "lines": list(s.lines),
                }
                for s in sources
            ],
            "answer_mode": outcome.mode,
            "support": round(outcome.support, 4),
            "relevance": grounding.relevance.as_json(),
            "history_turns": len(turn.history),
            "latency_ms": latency_ms,
            "timings_ms": dict(turn.timings),
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
        }
        given = ConversationEvents.ANSWER_GIVEN
        event = NewEvent(given, lineage, schema_version=current_version(given))
        await self._store.append(turn.stream, None, [event])
        turn.lap("storage", lap)
        model = lineage["model_version"]
        return Answer(
            turn.answer_id, reply, sources, model, latency_ms, timings_ms=turn.timings,
            mode=outcome.mode,
        )  # fmt: skip

    async def _failed(self, turn: _Turn, error: BaseException) -> Answer:
        reason = reason_for(error)
        latency_ms = int((time.perf_counter() - turn.started) * 1000)
        event = NewEvent(
            ConversationEvents.ANSWER_FAILED,
            {"answer_id": turn.answer_id, "thread": turn.thread, "reason": reason,
             "error": type(error).__name__, "model_version": self._model.model_version,
             "latency_ms": latency_ms},
        )  # fmt: skip
        await self._store.append(turn.stream, None, [event])
        text = failure_text(reason)
        model = self._model.model_version
        return Answer(turn.answer_id, text, (), model, latency_ms, failed=True)
