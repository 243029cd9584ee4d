"""The answer benchmark's metrics, over the records of one system on one set's half."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.bench.eval_sets import EvalQuestion


@dataclass
class AnswerRecord:
    question: EvalQuestion
    text: str
    cited: list[str]  # source paths in citation order
    declined: bool
    latency_ms: float
    sentences: int = 0
    supported: int = 0
    mode: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def has_facts(self) -> bool:
        return contains_facts(self.text, self.question.facts)


def _normalised(text: str) -> str:
    return " ".join(text.lower().split())


def contains_facts(answer: str, facts: Sequence[Sequence[str]]) -> bool:
    """Every fact group has one of its strings in the answer (case and spacing aside)."""
    said = _normalised(answer)
    return all(any(_normalised(fact) in said for fact in group) for group in facts)


def source_matches(cited: str, expected: str) -> bool:
    return cited == expected or cited.endswith("/" + expected)


def _rate(hits: int, total: int) -> float | None:
    return round(hits / total, 4) if total else None


def _percentile(values: Sequence[float], share: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return round(values[0], 1)
    return round(statistics.quantiles(values, n=100, method="inclusive")[int(share * 100) - 1], 1)


def summarize(records: Sequence[AnswerRecord]) -> dict[str, Any]:
    answerable = [r for r in records if r.question.answerable]
    unanswerable = [r for r in records if not r.question.answerable]
    expected = {id(r): r.question.source or "" for r in answerable}
    given = [r for r in records if not r.declined]
    lengths = [float(len(r.text)) for r in given]
    latencies = [r.latency_ms for r in records]
    sentences = sum(r.sentences for r in given)
    return {
        "questions": len(records),
        "answerable": len(answerable),
        "unanswerable": len(unanswerable),
        "fact_rate": _rate(sum(r.has_facts for r in answerable), len(answerable)),
        "source_at_1": _rate(
            sum(bool(r.cited) and source_matches(r.cited[0], expected[id(r)]) for r in answerable),
            len(answerable),
        ),
        "source_at_k": _rate(
            sum(any(source_matches(c, expected[id(r)]) for c in r.cited) for r in answerable),
            len(answerable),
        ),
        "abstain_rate": _rate(sum(r.declined for r in unanswerable), len(unanswerable)),
        "false_abstain_rate": _rate(sum(r.declined for r in answerable), len(answerable)),
        "supported_sentence_rate": _rate(sum(r.supported for r in given), sentences),
        "length_p50": _percentile(lengths, 0.5),
        "length_p95": _percentile(lengths, 0.95),
        "latency_ms_p50": _percentile(latencies, 0.5),
        "latency_ms_p95": _percentile(latencies, 0.95),
        "modes": dict(Counter(r.mode for r in records if r.mode)),
    }
