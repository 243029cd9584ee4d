"""Answering a question: store it (scrubbed, sealed), retrieve, generate, store the answer with its
lineage, reply. Any failure is stored as AnswerFailed and the asker still gets a reply. A question
in a thread that already has answers is a follow-up: the last few exchanges go into the prompt."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from domain.conversation import (
    Answer,
    ChatPlatform,
    ConversationLog,
    Exchange,
    Question,
    Source,
    thread_key,
)
from domain.errors import BuddyError, GenerationFailed, ModelUnavailable
from domain.events import NewEvent
from domain.ingestion import digest
from domain.language import (
    ContextPassage,
    GenerationRequest,
    GenerationUsage,
    LanguageModel,
    PromptTemplate,
    fit_context,
    format_passages,
)
from domain.ports import EventStore, KnowledgeIndex
from domain.privacy_service import PrivacyService
from domain.retrieval import SearchHit

NOTHING_FOUND = (
    "I couldn't find anything about that in the team's docs, so I won't guess. "
    "Try rephrasing, or add the relevant docs with `buddy ingest`."
)


@dataclass
class AnsweringSettings:
    k: int = 5
    min_dense_score: float = 0.25  # below this, retrieval found nothing relevant
    budget_tokens: int = 1500
    max_tokens: int = 256
    temperature: float = 0.2
    timeout_s: float = 120.0
    history_turns: int = 3  # earlier exchanges of the thread offered to the prompt
    history_share: float = 0.34  # of the prompt budget, at most; the oldest turns go first
    count_tokens: Callable[[str], int] = field(default=lambda text: len(text) // 3 + 1)


@dataclass
class _Turn:
    """What one answer is being built from, and how long each step took."""

    question: Question
    answer_id: str
    user: str
    stream: str
    thread: str
    started: float
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
    ) -> None:
        self._store = store
        self._privacy = privacy
        self._index = index
        self._model = model
        self._template = template
        self._platform = platform
        self._settings = settings or AnsweringSettings()
        self._log = log

    @property
    def model_version(self) -> str:
        return self._model.model_version

    async def __call__(self, question: Question) -> Answer:
        turn = await self._ask(question)
        try:
            answer = await asyncio.wait_for(self._answer(turn), timeout=self._settings.timeout_s)
        except (BuddyError, TimeoutError) as error:
            answer = await self._failed(turn, error)
        await self._platform.send(question.channel_id, question.thread_id, answer)
        return answer

    async def _ask(self, question: Question) -> _Turn:
        started = time.perf_counter()
        person = question.person
        user = self._privacy.pseudonym(person)
        channel = self._privacy.channel(person.platform, person.workspace, question.channel_id)
        earlier = await self._earlier(channel, question.thread_id)
        protected = await self._privacy.protect(user, question.text)
        answer_id = digest("answer", user, question.platform_event_id or protected.sealed)
        thread = thread_key(channel, question.thread_id or answer_id)
        payload: dict[str, Any] = {
            "answer_id": answer_id, "user": user, "channel": channel, "thread": thread,
            "text": protected.sealed, "redactions": list(protected.redactions),
        }  # fmt: skip
        if earlier:
            payload["follows"] = earlier[-1].answer_id
        kind = "conversation.FollowUpAsked" if earlier else "conversation.QuestionAsked"
        metadata = {"platform_event_id": question.platform_event_id}
        stream = f"conversation-{answer_id}"
        await self._store.append(
            stream, None, [NewEvent(kind, payload, metadata=metadata)],
            idempotency_key=question.platform_event_id,
        )  # fmt: skip
        turn = _Turn(question, answer_id, user, stream, thread, started)
        turn.history = await self._readable(earlier)
        turn.lap("storage", started)
        return turn

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
        text = turn.question.text
        lap = time.perf_counter()
        # A follow-up like "and on staging?" retrieves better with the question it follows.
        query = f"{turn.history[-1][0]}\n{text}" if turn.history else text
        hits = [
            hit
            for hit in await self._index.search(query, self._settings.k)
            if (hit.dense_score or 0.0) >= self._settings.min_dense_score
        ]
        lap = turn.lap("retrieval", lap)
        usage = GenerationUsage()
        if hits:
            history = self._fitted_history(turn.history)
            passages = fit_context(
                self._template, text, _passages(hits),
                budget_tokens=self._settings.budget_tokens,
                count_tokens=self._settings.count_tokens, history=history,
            )  # fmt: skip
            request = GenerationRequest(
                self._template.render(text, format_passages(passages), history),
                max_tokens=self._settings.max_tokens, temperature=self._settings.temperature,
                stop=self._template.stop,
            )  # fmt: skip
            lap = turn.lap("prompt", lap)
            reply = await self._generate(turn, request, usage)
            lap = turn.lap("generation", lap)
            # fit_context keeps the leading passages, and passage n is hits[n - 1].
            used = hits[: len(passages)]
        else:
            reply, used = NOTHING_FOUND, []
        return await self._given(turn, reply, used, usage, lap)

    def _fitted_history(self, turns: list[tuple[str, str]]) -> str:
        budget = int(self._settings.budget_tokens * self._settings.history_share)
        kept = list(turns)
        while kept and self._settings.count_tokens(self._template.history(kept)) > budget:
            kept.pop(0)
        return self._template.history(kept)

    async def _generate(
        self, turn: _Turn, request: GenerationRequest, usage: GenerationUsage
    ) -> str:
        question, started = turn.question, time.perf_counter()
        pieces: list[str] = []
        async for piece in self._model.stream(request, usage):
            if not pieces:
                turn.lap("first_token", started)
            pieces.append(piece)
            await self._platform.draft(question.channel_id, question.thread_id, "".join(pieces))
        reply = "".join(pieces).strip()
        if not reply:
            raise GenerationFailed("the model returned an empty answer")
        return reply

    async def _given(
        self, turn: _Turn, reply: str, used: list[SearchHit], usage: GenerationUsage, lap: float
    ) -> Answer:
        latency_ms = int((time.perf_counter() - turn.started) * 1000)
        sealed = await self._privacy.protect(turn.user, reply)
        lineage: dict[str, Any] = {
            "answer_id": turn.answer_id,
            "thread": turn.thread,
            "text": sealed.sealed,
            "model_version": self._model.model_version,
            "adapter_hash": self._model.adapter_hash,
            "prompt_version": self._template.version,
            "chunks": [{"chunk_id": h.chunk_id, "score": round(h.score, 6)} for h in used],
            "history_turns": len(turn.history),
            "latency_ms": latency_ms,
            "timings_ms": dict(turn.timings),
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
        }
        await self._store.append(turn.stream, None, [NewEvent("conversation.AnswerGiven", lineage)])
        turn.lap("storage", lap)
        sources = tuple(
            Source(i, h.source, h.license, (h.start_line, h.end_line))
            for i, h in enumerate(used, start=1)
        )
        model = self._model.model_version
        return Answer(turn.answer_id, reply, sources, model, latency_ms, timings_ms=turn.timings)

    async def _failed(self, turn: _Turn, error: BaseException) -> Answer:
        reason = _reason(error)
        latency_ms = int((time.perf_counter() - turn.started) * 1000)
        event = NewEvent(
            "conversation.AnswerFailed",
            {"answer_id": turn.answer_id, "thread": turn.thread, "reason": reason,
             "error": type(error).__name__, "model_version": self._model.model_version,
             "latency_ms": latency_ms},
        )  # fmt: skip
        await self._store.append(turn.stream, None, [event])
        text = f"Sorry, I couldn't answer that: {reason}."
        model = self._model.model_version
        return Answer(turn.answer_id, text, (), model, latency_ms, failed=True)


def _passages(hits: list[SearchHit]) -> list[ContextPassage]:
    return [ContextPassage(i, hit.source, hit.text) for i, hit in enumerate(hits, start=1)]


def _reason(error: BaseException) -> str:
    if isinstance(error, TimeoutError):
        return "the model took too long"
    if isinstance(error, ModelUnavailable):
        return "the language model is not available right now"
    if isinstance(error, GenerationFailed):
        return "the language model failed"
    return "something went wrong on my side"
