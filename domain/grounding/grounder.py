"""From retrieved hits to a grounded reply: decline, keep the model's answer when its passages
support it, or quote the passages (the extractive answer)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from domain.grounding.extractive import (
    Extract,
    ExtractionSettings,
    Passage,
    candidate_units,
    extract,
    score_units,
)
from domain.grounding.relevance import AbstainRule, Relevance
from domain.grounding.support import Support, check_support
from domain.grounding.terms import TermStats, Wanted, question_terms, terms, weighted_coverage
from domain.knowledge.search_text import search_text
from domain.ports import Embedder, KnowledgeIndex
from domain.retrieval import SearchHit

GENERATED, EXTRACTIVE, DECLINED = "generated", "extractive", "declined"
ANSWER_MODES = (GENERATED, EXTRACTIVE, DECLINED)


@dataclass(frozen=True)
class GroundingSettings:
    k: int = 5
    candidates: int = 20  # hits re-ranked by the question's rare words before the best k
    lexical_weight: float = 0.5  # how much a hit's share of the rare words adds to its similarity
    min_passage_dense: float = 0.25  # a hit less similar than this is not a passage at all
    rule: AbstainRule = field(default_factory=AbstainRule)
    extraction: ExtractionSettings = field(default_factory=ExtractionSettings)
    min_support: float = 1.0  # a generated answer is kept only when every sentence is supported
    quoted_passages: int = 3  # the best hits whose units an extractive answer may quote


@dataclass(frozen=True)
class Grounding:
    """What retrieval found for a question, and whether it can answer it."""

    hits: list[SearchHit]
    relevance: Relevance
    extract: Extract | None
    answerable: bool
    wanted: list[Wanted] = field(default_factory=list)  # the question's words
    stats: TermStats = field(default_factory=lambda: TermStats(0, {}))

    def covers(self, text: str) -> float:
        """The share of the question's rare words a text holds."""
        return weighted_coverage(self.wanted, terms(text), self.stats)


@dataclass(frozen=True)
class Outcome:
    mode: str
    text: str
    used: list[SearchHit]
    support: float


class Grounder:
    def __init__(
        self,
        index: KnowledgeIndex,
        embedder: Embedder | None = None,
        settings: GroundingSettings | None = None,
    ) -> None:
        self._index = index
        self._embedder = embedder
        self.settings = settings or GroundingSettings()

    async def ground(self, query: str, sources: Collection[str] | None = None) -> Grounding:
        """What the index holds for the query: of `sources` alone (a channel's scope), or of
        every source (None)."""
        settings = self.settings
        found_hits = await self._index.search(
            query, max(settings.candidates, settings.k), sources=sources
        )
        wanted = question_terms(query)
        stats = await self._index.term_stats([spellings[0] for spellings in wanted])
        kept = [h for h in found_hits if (h.dense_score or 0.0) >= settings.min_passage_dense]
        # Each hit's share of the question's rare words: re-ranks the hits, then judges them.
        coverage = [weighted_coverage(wanted, terms(_searched(hit)), stats) for hit in kept]
        ranked = sorted(
            zip(kept, coverage, strict=True),
            key=lambda pair: (pair[0].dense_score or 0.0) + settings.lexical_weight * pair[1],
            reverse=True,
        )[: settings.k]
        hits = [hit for hit, _ in ranked]
        quoted = hits[: settings.quoted_passages]
        passages = [_passage(hit) for hit in quoted]
        units = candidate_units(passages)
        similarities = await self._similarities(query, [u.text for u in units])
        scored = score_units(query, passages, units, stats, similarities, settings.extraction)
        found = extract(scored, passages, settings.extraction)
        relevance = Relevance(
            dense=max((hit.dense_score or 0.0 for hit in hits), default=0.0),
            coverage=max((share for _, share in ranked[: len(quoted)]), default=0.0),
            unit=found.score if found else 0.0,
        )
        answerable = bool(hits) and settings.rule.answerable(relevance)
        return Grounding(hits, relevance, found, answerable, wanted, stats)

    def declined(self, text: str) -> Outcome:
        return Outcome(DECLINED, text, [], 0.0)

    def extractive(self, grounding: Grounding, declined_text: str) -> Outcome:
        """The quoted answer; declined when no unit of the passages shares a word with it."""
        if grounding.extract is None:
            return self.declined(declined_text)
        used = [grounding.hits[index] for index in grounding.extract.passages]
        support = check_support(grounding.extract.text, [evidence(hit) for hit in used])
        return Outcome(EXTRACTIVE, grounding.extract.text, used, support.rate)

    def judge(
        self,
        grounding: Grounding,
        question: str,
        reply: str,
        used: Sequence[SearchHit],
        declined_text: str,
    ) -> Outcome:
        """The model's reply when its passages support it and it says at least as much of what
        was asked as the quotes would (a weak model copies the wrong passage faithfully), else
        the extractive answer."""
        support = self.support(question, reply, used)
        quoted = grounding.covers(grounding.extract.text) if grounding.extract else 0.0
        says_enough = not self.checks_replies or grounding.covers(reply) >= quoted
        if self.acceptable(support) and says_enough:
            return Outcome(GENERATED, reply, list(used), support.rate)
        return self.extractive(grounding, declined_text)

    def support(self, question: str, reply: str, used: Sequence[SearchHit]) -> Support:
        return check_support(reply, [evidence(hit) for hit in used], question)

    @property
    def checks_replies(self) -> bool:
        """False when every reply is kept as written: drafts then stream piece by piece."""
        return self.settings.min_support > 0

    def releasable(self, sentences: str, used: Sequence[SearchHit]) -> bool:
        """Whether sentences of a reply still being written may be shown."""
        if not self.checks_replies:
            return True
        support = check_support(sentences, [evidence(hit) for hit in used])
        return not support.echo and support.supported == support.sentences

    def acceptable(self, support: Support) -> bool:
        return (
            support.sentences > 0
            and support.rate >= self.settings.min_support
            and not support.echo
            and not support.unsure
        )

    async def _similarities(self, query: str, texts: list[str]) -> list[float] | None:
        if self._embedder is None or not texts:
            return None
        vectors = await self._embedder.embed([query, *texts])
        first = vectors[0]
        return [_cosine(first, vector) for vector in vectors[1:]]


def _passage(hit: SearchHit) -> Passage:
    return Passage(hit.source, hit.locator, hit.text, hit.kind == "code", hit.dense_score or 0.0)


def _searched(hit: SearchHit) -> str:
    return search_text(hit.source, hit.locator, hit.kind, hit.text)


def evidence(hit: SearchHit) -> str:
    """What a hit offers to support an answer: its text under its path and heading."""
    return f"{hit.source} {hit.locator}\n{hit.text}"


def _cosine(first: Sequence[float], second: Sequence[float]) -> float:
    dot = sum(a * b for a, b in zip(first, second, strict=True))
    norm = (sum(a * a for a in first) ** 0.5) * (sum(b * b for b in second) ** 0.5)
    return dot / norm if norm else 0.0
