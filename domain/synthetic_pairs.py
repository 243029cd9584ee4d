"""Synthetic question/answer pairs as stored and read back: the cold-start examples the served
model writes from knowledge-base chunks (domain/synthesis.py) and the curator trains on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from domain.event_types import TrainingEvents

SYNTHETIC_EVENT = TrainingEvents.SYNTHETIC_EXAMPLE_GENERATED


@dataclass(frozen=True)
class SyntheticPair:
    """A question/answer pair the served model wrote from one knowledge-base chunk. Knowledge
    text is not personal: stored scrubbed, not sealed."""

    chunk_id: str
    source: str  # the document path, as cited
    question: str
    answer: str
    model_version: str | None
    lines: tuple[int, int] = (0, 0)
    license: str = "unknown"
    prompt_version: str | None = None
    current: bool = True  # False once its chunk has left the knowledge base (edited, removed)
    passages: str = ""  # the chunk as the answer prompt showed it, when it is still indexed

    def payload(self) -> dict[str, Any]:
        return {
            "chunk_id": self.chunk_id, "source": self.source, "question": self.question,
            "answer": self.answer, "model_version": self.model_version,
            "lines": list(self.lines), "license": self.license,
            "prompt_version": self.prompt_version,
        }  # fmt: skip

    @classmethod
    def from_payload(
        cls, payload: dict[str, Any], *, current: bool = True, passages: str = ""
    ) -> SyntheticPair:
        lines = payload.get("lines") or (0, 0)
        return cls(
            str(payload["chunk_id"]), str(payload["source"]), str(payload["question"]),
            str(payload["answer"]), payload.get("model_version"), (int(lines[0]), int(lines[1])),
            str(payload.get("license") or "unknown"), payload.get("prompt_version"), current,
            passages,
        )  # fmt: skip


@runtime_checkable
class SyntheticSource(Protocol):
    async def synthetic_pairs(self) -> list[SyntheticPair]:
        """Every stored synthetic pair, oldest first."""
        ...
