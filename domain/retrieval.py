"""Retrieval results and their fusion: pure functions over ranked lists."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

# Reciprocal-rank fusion constant: 60 is the value from Cormack et al. (2009), robust in practice.
RRF_K = 60


@dataclass(frozen=True)
class SearchHit:
    chunk_id: str
    source: str  # the document path, as cited
    locator: str
    start_line: int
    end_line: int
    text: str
    license: str
    score: float  # the fused score the hits are ordered by
    dense_score: float | None = None  # cosine similarity, when the dense side found it
    kind: str = "prose"  # or "code"

    def as_json(self) -> dict[str, object]:
        return {
            "source": self.source,
            "chunk_id": self.chunk_id,
            "score": round(self.score, 6),
            "text": self.text,
            "license": self.license,
            "locator": self.locator,
            "lines": [self.start_line, self.end_line],
            "dense_score": None if self.dense_score is None else round(self.dense_score, 6),
        }


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[str]], *, weights: Sequence[float] | None = None, k: int = RRF_K
) -> list[tuple[str, float]]:
    """Fuse ranked id lists; ids found by several rankings rise. Ties keep first-seen order."""
    weights = weights or [1.0] * len(rankings)
    scores: dict[str, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
    return sorted(scores.items(), key=lambda pair: pair[1], reverse=True)


def text_boosted_fusion(
    dense: Sequence[tuple[str, float]], text: Sequence[str], *, boost: float, k: int = RRF_K
) -> list[tuple[str, float]]:
    """Dense similarity plus a small bonus for a good full-text rank.

    Rank fusion throws the dense scores away; with a strong embedder that loses to dense alone.
    Here full text only reorders near-ties, and lifts exact-term matches the embedder missed
    (scored as the weakest dense candidate plus the bonus)."""
    similarity = dict(dense)
    floor = min(similarity.values(), default=0.0)
    scores = dict(similarity)
    for rank, item in enumerate(text, start=1):
        scores[item] = scores.get(item, floor) + boost * k / (k + rank)
    return sorted(scores.items(), key=lambda pair: pair[1], reverse=True)
