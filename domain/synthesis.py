"""Cold start: the served model writes question/answer pairs from knowledge-base chunks, so a new
team gets a first adapter before anyone has rated an answer.

For each chunk a plain-text completion prompt (a base model continues text, ADR 0006; prompt
`question-v1`: the chunk, then "FAQ / Q:") asks for one question the passage answers, stopping at
the newline; the question is cleaned and checked; then the answer prompt Buddy
serves, with the chunk as its only passage, writes a grounded answer. Each pair is stored scrubbed
(knowledge-base text is not personal, so not sealed) as `training.SyntheticExampleGenerated` in
`synthetic-<chunk_id>`; the curator puts them in the train split only. A chunk that does not yield
a valid pair gives its turn to the next one, a bounded number of times."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any, Protocol

from domain.curation import MIN_ANSWER_CHARS
from domain.errors import BuddyError, ConcurrencyError, GenerationFailed
from domain.events import NO_STREAM, NewEvent
from domain.language import (
    ContextPassage,
    GenerationRequest,
    GenerationUsage,
    LanguageModel,
    PromptTemplate,
    fit_context,
    format_passages,
)
from domain.ports import EventStore, Scrubber
from domain.synthetic_pairs import SYNTHETIC_EVENT, SyntheticPair

MIN_CHUNK_CHARS = 200  # shorter chunks (a heading, a one-liner) rarely answer a real question
MIN_QUESTION_CHARS = 12
MAX_QUESTION_CHARS = 200
_PAGE = 1000
# Where a base model, done answering, starts inventing the next prompt block: not the answer.
_INVENTED = ("\nPassages:", "\nDocumentation:")


class EmptyKnowledgeBase(BuddyError):
    def __init__(self) -> None:
        super().__init__("the knowledge base is empty: ingest documents first: buddy ingest PATH")


@dataclass(frozen=True)
class KnowledgeChunk:
    chunk_id: str
    source: str  # the document path, as cited
    text: str
    start_line: int = 0
    end_line: int = 0
    license: str = "unknown"


class ChunkSource(Protocol):
    async def count_chunks(self) -> int:
        """How many chunks the knowledge base holds."""
        ...

    async def sample_chunks(
        self, n: int, *, min_chars: int = MIN_CHUNK_CHARS, skip: Collection[str] = ()
    ) -> list[KnowledgeChunk]:
        """Up to `n` chunks of at least `min_chars` characters, none of those in `skip`, spread
        across sources and documents; the same choice every time for the same contents."""
        ...


@dataclass
class SynthesisSettings:
    min_chunk_chars: int = MIN_CHUNK_CHARS
    tries_per_pair: int = 3  # chunks tried, at most, for each pair asked for
    question_max_tokens: int = 32
    answer_max_tokens: int = 96
    temperature: float = 0.2
    budget_tokens: int = 1500  # for each prompt, without what the model writes
    count_tokens: Callable[[str], int] = field(default=lambda text: len(text) // 3 + 1)


@dataclass
class SynthesisReport:
    requested: int
    created: list[SyntheticPair] = field(default_factory=list)
    tried: int = 0
    rejected: Counter[str] = field(default_factory=Counter)

    def as_json(self) -> dict[str, Any]:
        return {
            "requested": self.requested, "created": len(self.created), "tried": self.tried,
            "rejected": dict(sorted(self.rejected.items())),
        }  # fmt: skip


def clean_question(text: str, prompt: str) -> str | None:
    """The question in the model's first line, or None when there is no usable one: it must end
    in '?', be of a reasonable length and not be copied from the prompt."""
    lines = text.strip().splitlines()
    line = lines[0].strip() if lines else ""
    line = re.sub(
        r"^(?:[-*>•]+\s*|\d+[.)]\s+|(?:q|question)\s*\d*\s*[:.)-]\s*)+", "", line, flags=re.I
    )
    line = line.strip().strip("\"'`“”‘’").strip()
    if "?" not in line:
        return None
    line = line[: line.index("?") + 1].strip()
    if not MIN_QUESTION_CHARS <= len(line) <= MAX_QUESTION_CHARS or len(line.split()) < 3:
        return None
    if _normalised(line) in _normalised(prompt):  # copied from the passage or the example
        return None
    return line


def clean_answer(text: str) -> str:
    """The answer without surrounding space; cut at its last full sentence when generation
    stopped mid-sentence and enough is left."""
    answer = text.strip()
    if answer and answer[-1] not in ".!?)`\"'":
        ends = [m.end() for m in re.finditer(r"[.!?](?=\s|$)", answer)]
        if ends and ends[-1] >= MIN_ANSWER_CHARS:
            answer = answer[: ends[-1]]
    return answer


class SynthesizeExamples:
    def __init__(
        self, chunks: ChunkSource, model: LanguageModel, questions: PromptTemplate,
        answers: PromptTemplate, scrubber: Scrubber, store: EventStore,
        settings: SynthesisSettings | None = None,
    ) -> None:  # fmt: skip
        """`questions` asks for a question about {context}; `answers` is the served prompt."""
        self._chunks = chunks
        self._model = model
        self._questions = questions
        self._answers = answers
        self._scrubber = scrubber
        self._store = store
        self._settings = settings or SynthesisSettings()

    async def __call__(
        self, n: int, progress: Callable[[int], None] = lambda _: None
    ) -> SynthesisReport:
        """Write up to `n` new pairs, from chunks that have none yet."""
        if n < 1:
            raise BuddyError(f"ask for at least one synthetic example, not {n}")
        if await self._chunks.count_chunks() == 0:
            raise EmptyKnowledgeBase()
        settings = self._settings
        candidates = await self._chunks.sample_chunks(
            n * settings.tries_per_pair, min_chars=settings.min_chunk_chars,
            skip=await self.synthesized(),
        )  # fmt: skip
        report = SynthesisReport(requested=n)
        for chunk in candidates:
            if len(report.created) >= n:
                break
            report.tried += 1
            pair, reason = await self._pair(chunk)
            if pair is None:
                report.rejected[reason] += 1
                continue
            event = NewEvent(SYNTHETIC_EVENT, pair.payload())
            try:
                await self._store.append(f"synthetic-{chunk.chunk_id}", NO_STREAM, [event])
            except ConcurrencyError:  # another run wrote this chunk's pair meanwhile
                report.rejected["already_synthesized"] += 1
                continue
            report.created.append(pair)
            progress(1)
        return report

    async def synthesized(self) -> set[str]:
        """The chunks that already have a synthetic pair."""
        done: set[str] = set()
        after = 0
        while batch := await self._store.read_all(after, limit=_PAGE, types=[SYNTHETIC_EVENT]):
            done.update(str(event.payload["chunk_id"]) for event in batch)
            after = batch[-1].position
        return done

    async def _pair(self, chunk: KnowledgeChunk) -> tuple[SyntheticPair | None, str]:
        settings, passage = self._settings, ContextPassage(1, chunk.source, chunk.text)
        asked = self._request(self._questions, "", passage, settings.question_max_tokens)
        if asked is None:
            return None, "too_long"
        try:
            prompt = "\n\n".join(message.content for message in asked.messages)
            question = clean_question(await self._complete(asked, GenerationUsage()), prompt)
            if question is None:
                return None, "no_question"
            question = self._scrubber.scrub(question).text
            usage = GenerationUsage()
            request = self._request(
                self._answers, question, passage, settings.answer_max_tokens, _INVENTED
            )
            if request is None:
                return None, "too_long"
            answer = self._scrubber.scrub(clean_answer(await self._complete(request, usage))).text
        except GenerationFailed:
            return None, "generation_failed"
        if len(answer) < MIN_ANSWER_CHARS:
            return None, "short_answer"
        if _normalised(answer) == _normalised(question) or _degenerate(answer):
            return None, "degenerate"
        return SyntheticPair(
            chunk.chunk_id, chunk.source, question, answer,
            usage.model_version or self._model.model_version, (chunk.start_line, chunk.end_line),
            chunk.license, f"{self._questions.version}+{self._answers.version}",
        ), ""  # fmt: skip

    def _request(
        self, template: PromptTemplate, question: str, passage: ContextPassage, max_tokens: int,
        stop: tuple[str, ...] = (),
    ) -> GenerationRequest | None:  # fmt: skip
        """The prompt with the chunk as its one passage (shortened to fit), if anything fits."""
        settings = self._settings
        fitted = fit_context(
            template, question, [passage], budget_tokens=settings.budget_tokens,
            count_tokens=settings.count_tokens,
        )  # fmt: skip
        if not fitted:
            return None
        return GenerationRequest(
            template.render(question, format_passages(fitted)), max_tokens=max_tokens,
            temperature=settings.temperature, stop=template.stop + stop,
        )  # fmt: skip

    async def _complete(self, request: GenerationRequest, usage: GenerationUsage) -> str:
        return "".join([piece async for piece in self._model.stream(request, usage)])


def _degenerate(answer: str) -> bool:
    """A small base model sometimes loops: one character over and over, or no spaces at all."""
    return bool(re.search(r"(\w)\1{11,}|\S{80,}", answer))


def _normalised(text: str) -> str:
    return re.sub(r"\s+", " ", text.lower()).strip()
