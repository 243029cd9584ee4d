"""The event catalogue: stable type strings, current schema versions, and upcasters for old ones.

Type strings are part of the stored data and never change; a payload change bumps the schema
version and registers an upcaster from the old version, so readers only see current shapes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from domain.errors import InvalidEvent
from domain.events import RecordedEvent

Payload = dict[str, Any]
Upcaster = Callable[[Payload], Payload]

CATALOGUE: dict[str, int] = {
    # conversation
    "conversation.QuestionAsked": 1,
    "conversation.AnswerGiven": 1,
    "conversation.AnswerFailed": 1,
    "conversation.FollowUpAsked": 1,
    "conversation.QuestionEdited": 1,
    "conversation.QuestionDeleted": 1,
    # feedback
    "feedback.RatingGiven": 1,
    "feedback.RatingRetracted": 1,
    "feedback.FeedbackCommentGiven": 1,
    # sandbox
    "sandbox.SnippetRun": 1,
    # knowledge
    "knowledge.SourceRegistered": 1,
    "knowledge.DocumentIngested": 1,
    "knowledge.DocumentRemoved": 1,
    # privacy
    "privacy.UserOptedOut": 1,
    "privacy.UserOptedIn": 1,
    "privacy.ChannelExcluded": 1,
    "privacy.UserErased": 1,
    # training
    "training.DatasetCurated": 1,
    "training.TrainingStarted": 1,
    "training.TrainingFinished": 1,
    "training.TrainingFailed": 1,
    "training.ModelEvaluated": 1,
    "training.ModelPromoted": 1,
    "training.ModelRolledBack": 1,
    "training.SyntheticExampleGenerated": 1,  # cold start (H4): a pair written from a KB chunk
    # admin
    "admin.AdminCommandIssued": 1,
}


class Upcasters:
    """Chains of one-step upcasters per event type: version n -> n + 1."""

    def __init__(self) -> None:
        self._steps: dict[tuple[str, int], Upcaster] = {}

    def register(self, event_type: str, from_version: int, step: Upcaster) -> None:
        key = (event_type, from_version)
        if key in self._steps:
            raise InvalidEvent(f"upcaster for {event_type} v{from_version} registered twice")
        self._steps[key] = step

    def upcast(self, event: RecordedEvent) -> RecordedEvent:
        payload, version = event.payload, event.schema_version
        while (step := self._steps.get((event.type, version))) is not None:
            payload, version = step(dict(payload)), version + 1
        if version == event.schema_version:
            return event
        return replace(event, payload=payload, schema_version=version)
