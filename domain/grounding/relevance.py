"""Whether what retrieval found can answer the question at all: else Buddy declines."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Relevance:
    dense: float  # the best passage's similarity to the question
    coverage: float  # the largest share of the question's (rarity-weighted) words one passage holds
    unit: float  # the best quotable unit's score

    def as_json(self) -> dict[str, float]:
        return {
            "dense": round(self.dense, 4),
            "coverage": round(self.coverage, 4),
            "unit": round(self.unit, 4),
        }


@dataclass(frozen=True)
class AbstainRule:
    """Calibrated on the dev halves of the answer benchmark's sets (`buddy bench answers`)."""

    # Chosen on the dev halves (82 answerable, 22 unanswerable questions over four sets): the
    # most abstentions with false abstentions at most 10% (ADR 0009).
    min_dense: float = 0.35
    min_coverage: float = 0.10
    min_unit: float = 0.40

    def answerable(self, relevance: Relevance) -> bool:
        return (
            relevance.dense >= self.min_dense
            and relevance.coverage >= self.min_coverage
            and relevance.unit >= self.min_unit
        )
