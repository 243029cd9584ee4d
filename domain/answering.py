"""Answering a question: store it (scrubbed, sealed), retrieve, generate, store the answer with its
lineage, reply. Any failure is stored as AnswerFailed and the asker still gets a reply."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

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
from domain.privacy_service import Person, PrivacyService
from domain.retrieval import SearchHit

NOTHING_FOUND = (
    "I couldn't find anything about that in the team's docs, so I won't guess. "
    "Try rephrasing, or add the relevant docs with `buddy ingest`."
)


@dataclass(frozen=True)
class Question:
    person: Person
    channel_id: str
    text: str
    thread_id: str | None = None
    platform_event_id: str | None = None


@dataclass(frozen=True)
class Source:
    reference: int
    path: str
    license: str
    lines: tuple[int, int]


@dataclass(frozen=True)
class Answer:
    answer_id: str
    text: str
    sources: tuple[Source, ...]
    model_version: str
    latency_ms: int
    failed: bool = False


class ChatPlatform(Protocol):
    async def send(self, channel_id: str, thread_id: str | None, answer: Answer) -> None: ...


@dataclass
class AnsweringSettings:
    k: int = 5
    min_dense_score: float = 0.25  # below this, retrieval found nothing relevant
    budget_tokens: int = 1500
    max_tokens: int = 256
    timeout_s: float = 120.0
    count_tokens: Callable[[str], int] = field(default=lambda text: len(text) // 3 + 1)


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
    ) -> None:
        self._store = store
        self._privacy = privacy
        self._index = index
        self._model = model
        self._template = template
        self._platform = platform
        self._settings = settings or AnsweringSettings()

    async def __call__(self, question: Question) -> Answer:
        started = time.perf_counter()
        user = self._privacy.pseudonym(question.person)
        protected = await self._privacy.protect(user, question.text)
        answer_id = digest("answer", user, question.platform_event_id or protected.sealed)
        stream = f"conversation-{answer_id}"
        asked = NewEvent(
            "conversation.QuestionAsked",
            {
                "answer_id": answer_id,
                "user": user,
                "channel": self._privacy.channel(
                    question.person.platform, question.person.workspace, question.channel_id
                ),
                "text": protected.sealed,
                "redactions": list(protected.redactions),
            },
            metadata={"platform_event_id": question.platform_event_id},
        )
        await self._store.append(stream, None, [asked], idempotency_key=question.platform_event_id)
        try:
            answer = await asyncio.wait_for(
                self._answer(question.text, answer_id, user, stream, started),
                timeout=self._settings.timeout_s,
            )
        except (BuddyError, TimeoutError) as error:
            answer = await self._failed(answer_id, stream, error, started)
        await self._platform.send(question.channel_id, question.thread_id, answer)
        return answer

    async def _answer(
        self, text: str, answer_id: str, user: str, stream: str, started: float
    ) -> Answer:
        hits = [
            hit
            for hit in await self._index.search(text, self._settings.k)
            if (hit.dense_score or 0.0) >= self._settings.min_dense_score
        ]
        usage = GenerationUsage()
        if hits:
            passages = fit_context(
                self._template, text, _passages(hits),
                budget_tokens=self._settings.budget_tokens,
                count_tokens=self._settings.count_tokens,
            )  # fmt: skip
            request = GenerationRequest(
                self._template.render(text, format_passages(passages)),
                max_tokens=self._settings.max_tokens,
            )
            reply = "".join([piece async for piece in self._model.stream(request, usage)]).strip()
            # fit_context keeps the leading passages, and passage n is hits[n - 1].
            used = hits[: len(passages)]
        else:
            reply, used = NOTHING_FOUND, []
        latency_ms = int((time.perf_counter() - started) * 1000)
        sealed = await self._privacy.protect(user, reply)
        lineage: dict[str, Any] = {
            "answer_id": answer_id,
            "text": sealed.sealed,
            "model_version": self._model.model_version,
            "adapter_hash": None,
            "prompt_version": self._template.version,
            "chunks": [{"chunk_id": h.chunk_id, "score": round(h.score, 6)} for h in used],
            "latency_ms": latency_ms,
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
        }
        await self._store.append(stream, None, [NewEvent("conversation.AnswerGiven", lineage)])
        sources = tuple(
            Source(i, h.source, h.license, (h.start_line, h.end_line))
            for i, h in enumerate(used, start=1)
        )
        return Answer(answer_id, reply, sources, self._model.model_version, latency_ms)

    async def _failed(
        self, answer_id: str, stream: str, error: BaseException, started: float
    ) -> Answer:
        reason = _reason(error)
        latency_ms = int((time.perf_counter() - started) * 1000)
        event = NewEvent(
            "conversation.AnswerFailed",
            {"answer_id": answer_id, "reason": reason, "error": type(error).__name__,
             "model_version": self._model.model_version, "latency_ms": latency_ms},
        )  # fmt: skip
        await self._store.append(stream, None, [event])
        text = f"Sorry, I couldn't answer that: {reason}."
        return Answer(answer_id, text, (), self._model.model_version, latency_ms, failed=True)


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
