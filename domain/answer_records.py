"""How answers are recorded and read back: passages from hits, cited sources, failure reasons,
and an Answer rebuilt from its stored event (a resumed reply after a restart)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from domain.conversation import Answer, Source
from domain.errors import GenerationFailed, ModelUnavailable
from domain.event_types import ConversationEvents
from domain.language import ContextPassage
from domain.privacy_service import PrivacyService
from domain.retrieval import SearchHit


def passages_of(hits: Sequence[SearchHit]) -> list[ContextPassage]:
    return [ContextPassage(i, hit.source, hit.text) for i, hit in enumerate(hits, start=1)]


def sources_of(used: Sequence[SearchHit]) -> tuple[Source, ...]:
    """Passage n is cited as [n]: the sources are the passages that went into the prompt."""
    return tuple(
        Source(i, h.source, h.license, (h.start_line, h.end_line))
        for i, h in enumerate(used, start=1)
    )


def reason_for(error: BaseException) -> str:
    if isinstance(error, TimeoutError):
        return "the model took too long"
    if isinstance(error, ModelUnavailable):
        return "the language model is not available right now"
    if isinstance(error, GenerationFailed):
        return "the language model failed"
    return "something went wrong on my side"


def failure_text(reason: str) -> str:
    return f"Sorry, I couldn't answer that: {reason}."


async def stored_answer(
    privacy: PrivacyService, user: str, kind: str, payload: dict[str, Any]
) -> Answer | None:
    """The Answer an AnswerGiven or AnswerFailed event recorded; None when its text no longer
    opens (the asker was erased)."""
    model = str(payload.get("model_version", ""))
    latency = int(payload.get("latency_ms", 0))
    if kind == ConversationEvents.ANSWER_FAILED:
        reason = str(payload["reason"])
        return Answer(payload["answer_id"], failure_text(reason), (), model, latency, failed=True)
    text = await privacy.reveal(user, payload["text"])
    if text is None:
        return None
    sources = tuple(
        Source(s["reference"], s["path"], s["license"], (s["lines"][0], s["lines"][1]))
        for s in payload.get("sources", [])
    )
    return Answer(payload["answer_id"], text, sources, model, latency)
