"""Curating rated conversations into a training set: which interactions qualify, near-duplicates
out, PII scrubbed again, a deterministic 90/10 split, and preference pairs from corrections.
Synthetic pairs written from the knowledge base (cold start, domain/synthesis.py) join the train
split only, and never count towards milestones."""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

from domain.event_types import TrainingEvents
from domain.events import NewEvent
from domain.ports import Embedder, EventStore
from domain.privacy_service import PrivacyService
from domain.synthetic_pairs import SyntheticPair, SyntheticSource

MIN_ANSWER_CHARS = 50
DUPLICATE_COSINE = 0.95
EVAL_PERCENT = 10
MILESTONES = (100, 500, 1_000, 5_000, 10_000, 25_000, 50_000)
SYSTEM = (
    "You are Buddy, a helpful assistant for a software team. Answer the question using only the "
    "numbered passages from the team's documents and code."
)


@dataclass(frozen=True)
class Interaction:
    """One answered question as the curator sees it: sealed texts, votes, consent."""

    answer_id: str
    user: str
    thread: str | None
    position: int
    question: str  # sealed
    answer: str | None  # sealed; None when answering failed
    votes: dict[str, int]  # rater -> +1 / -1
    excluded: bool  # opted out, erased, or in an excluded channel
    sources: tuple[dict[str, Any], ...] = ()
    model_version: str | None = None
    # The passages the answer was written from, laid out as its prompt showed them ("" when
    # unknown), so training sees the prompt that serving sees.
    passages: str = ""
    answer_mode: str | None = None  # generated, extractive or declined (None: before modes)


class CurationSource(Protocol):
    async def interactions(self) -> list[Interaction]:
        """Every question with its answer and votes, oldest first."""
        ...


@dataclass
class CuratedDataset:
    train: list[dict[str, Any]] = field(default_factory=list)
    eval: list[dict[str, Any]] = field(default_factory=list)
    pairs: list[dict[str, Any]] = field(default_factory=list)
    dropped: Counter[str] = field(default_factory=Counter)
    considered: int = 0
    synthetic: int = 0  # of the train examples, how many the model wrote from the knowledge base

    @property
    def size(self) -> int:
        """Human-curated examples (train + eval, synthetic left out): what milestones count."""
        return len(self.train) + len(self.eval) - self.synthetic

    def digest(self) -> str:
        blob = json.dumps([self.train, self.eval, self.pairs], sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def summary(self) -> dict[str, Any]:
        """`examples`: human-curated ones only (what milestones count); `train` includes the
        `synthetic` ones, which are never in `eval`."""
        return {
            "dataset_hash": self.digest(), "considered": self.considered,
            "examples": self.size, "train": len(self.train), "eval": len(self.eval),
            "synthetic": self.synthetic, "pairs": len(self.pairs),
            "dropped": dict(sorted(self.dropped.items())),
        }  # fmt: skip


def qualifies(item: Interaction) -> str | None:
    """Why an interaction is left out, or None when it qualifies."""
    if item.excluded:
        return "consent"
    if item.answer is None:
        return "failed"
    if item.answer_mode == "declined":
        return "declined"  # the model never sees a question Buddy declines: nothing to learn
    asker_vote = item.votes.get(item.user)
    if asker_vote == -1:
        return "asker_negative"
    if asker_vote != 1 and sum(item.votes.values()) <= 0:
        return "not_positive"
    return None


def split_of(question: str) -> str:
    """train or eval, by a hash of the question: stable across runs and machines."""
    bucket = int(hashlib.sha256(_normalised(question).encode()).hexdigest(), 16) % 100
    return "eval" if bucket < EVAL_PERCENT else "train"


def next_milestone(curated: int, milestones: Sequence[int] = MILESTONES) -> int | None:
    return next((m for m in milestones if m > curated), None)


@dataclass(frozen=True)
class _Candidate:
    question: str
    answer: str
    example: Callable[[str, str], dict[str, Any]]
    synthetic: bool = False

    def dropped(self, reason: str) -> str:
        return f"synthetic_{reason}" if self.synthetic else reason


class CurateDataset:
    def __init__(
        self, source: CurationSource, privacy: PrivacyService, embedder: Embedder,
        store: EventStore, synthetic: SyntheticSource | None = None,
    ) -> None:  # fmt: skip
        """Synthetic pairs come from `synthetic`, or from `source` when it provides them."""
        self._source = source
        self._privacy = privacy
        self._embedder = embedder
        self._store = store
        if synthetic is None and isinstance(source, SyntheticSource):
            synthetic = source
        self._synthetic = synthetic

    async def __call__(self) -> CuratedDataset:
        items = await self._source.interactions()
        dataset = CuratedDataset(considered=len(items))
        candidates: list[_Candidate] = []
        for item in items:
            reason = qualifies(item)
            texts = None if reason else await self._texts(item)
            if texts is None:
                dataset.dropped[reason or "unreadable"] += 1
            elif len(texts[1]) < MIN_ANSWER_CHARS:
                dataset.dropped["short_answer"] += 1
            else:
                candidates.append(_Candidate(*texts, partial(_example, item)))
        # After the people's examples, so a synthetic pair is the one a duplicate drops.
        candidates += await self._synthetic_candidates(dataset)
        for candidate in await self._distinct(candidates, dataset):
            question, answer = candidate.question, candidate.answer
            example = candidate.example(question, answer)
            if candidate.synthetic:  # never evaluated on: the eval split is people's questions
                dataset.train.append(example)
                dataset.synthetic += 1
            else:
                getattr(dataset, split_of(question)).append(example)
        dataset.pairs = await self._pairs(items)
        summary = dataset.summary()
        event = NewEvent(TrainingEvents.DATASET_CURATED, summary)
        await self._store.append(f"dataset-{summary['dataset_hash']}", None, [event])
        return dataset

    async def _texts(self, item: Interaction) -> tuple[str, str] | None:
        question = await self._privacy.reveal(item.user, item.question)
        answer = await self._privacy.reveal(item.user, item.answer) if item.answer else None
        if question is None or answer is None:
            return None
        # Scrubbed when stored; scrubbed again, as the scrubber may have learnt since.
        return self._privacy.scrub(question), self._privacy.scrub(answer)

    async def _synthetic_candidates(self, dataset: CuratedDataset) -> list[_Candidate]:
        if self._synthetic is None:
            return []
        found: list[_Candidate] = []
        for pair in await self._synthetic.synthetic_pairs():
            question, answer = self._privacy.scrub(pair.question), self._privacy.scrub(pair.answer)
            if not pair.current:
                dataset.dropped["synthetic_stale"] += 1
            elif len(answer) < MIN_ANSWER_CHARS:
                dataset.dropped["synthetic_short_answer"] += 1
            else:
                build = partial(synthetic_example, pair)
                found.append(_Candidate(question, answer, build, synthetic=True))
        return found

    async def _distinct(
        self, candidates: list[_Candidate], dataset: CuratedDataset
    ) -> list[_Candidate]:
        seen: set[str] = set()
        exact: list[_Candidate] = []
        for candidate in candidates:
            key = _normalised(candidate.question + "\n" + candidate.answer)
            if key in seen:
                dataset.dropped[candidate.dropped("duplicate")] += 1
                continue
            seen.add(key)
            exact.append(candidate)
        if not exact:
            return []
        vectors = await self._embedder.embed([f"{c.question}\n{c.answer}" for c in exact])
        kept: list[int] = []
        for index, vector in enumerate(vectors):
            if any(_cosine(vector, vectors[k]) >= DUPLICATE_COSINE for k in kept):
                dataset.dropped[exact[index].dropped("near_duplicate")] += 1
            else:
                kept.append(index)
        return [exact[k] for k in kept]

    async def _pairs(self, items: list[Interaction]) -> list[dict[str, Any]]:
        """A negatively rated answer, then a human reply in its thread: (rejected, chosen)."""
        pairs: list[dict[str, Any]] = []
        by_thread: dict[str, list[Interaction]] = {}
        for item in items:
            if item.thread:
                by_thread.setdefault(item.thread, []).append(item)
        for thread in by_thread.values():
            for rated, reply in itertools.pairwise(thread):
                if rated.excluded or reply.excluded or -1 not in rated.votes.values():
                    continue
                texts = await self._texts(rated)
                chosen = await self._privacy.reveal(reply.user, reply.question)
                if texts is None or chosen is None:
                    continue
                pairs.append({"prompt": texts[0], "rejected": texts[1],
                              "chosen": self._privacy.scrub(chosen),
                              "meta": {"answer_id": rated.answer_id}})  # fmt: skip
        return pairs


def _messages(question: str, answer: str) -> list[dict[str, str]]:
    turns = (("system", SYSTEM), ("user", question), ("assistant", answer))
    return [{"role": role, "content": content} for role, content in turns]


def _example(item: Interaction, question: str, answer: str) -> dict[str, Any]:
    return {
        "messages": _messages(question, answer),
        "meta": {
            "answer_id": item.answer_id, "model_version": item.model_version,
            "sources": list(item.sources), "votes": sum(item.votes.values()),
            "synthetic": False,
        } | ({"passages": item.passages} if item.passages else {}),
    }  # fmt: skip


def synthetic_example(pair: SyntheticPair, question: str, answer: str) -> dict[str, Any]:
    """The same chat layout as a rated example, marked synthetic, cited to its chunk."""
    source = {"reference": 1, "path": pair.source, "license": pair.license,
              "lines": list(pair.lines)}  # fmt: skip
    return {
        "messages": _messages(question, answer),
        "meta": {
            "answer_id": None, "model_version": pair.model_version, "sources": [source],
            "votes": None, "synthetic": True, "chunk_id": pair.chunk_id, "source": pair.source,
        } | ({"passages": pair.passages} if pair.passages else {}),
    }  # fmt: skip


def _normalised(text: str) -> str:
    return re.sub(r"\s+", " ", text.lower()).strip()


def _cosine(a: Sequence[float], b: Sequence[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norms = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norms if norms else 0.0
