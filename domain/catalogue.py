"""The event catalogue: every event type Buddy stores, its current schema version, the payload
fields every event of that type carries, and the upcasters that read older versions.

This module is the authority (docs/architecture.md describes the event model around it):

- A type string ("context.PascalName", constants in `domain/event_types.py`) is part of the
  stored data and never changes. The store refuses an event whose type is not catalogued here.
- `required` lists the fields every emit site writes and readers rely on; an append missing one
  is refused (`validate_append`), so a reader may index them without a default.
- A change to a payload's shape bumps the type's version and registers a one-step upcaster from
  the old version (`upcasters()`); the store applies them on read, so readers only ever see the
  current shape. Appends must be written at the current version; old rows stay as stored.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from domain.errors import InvalidEvent
from domain.event_types import (
    AdminEvents,
    ConversationEvents,
    FeedbackEvents,
    KnowledgeEvents,
    PrivacyEvents,
    SandboxEvents,
    TrainingEvents,
)
from domain.events import NewEvent, RecordedEvent

Payload = dict[str, Any]
Upcaster = Callable[[Payload], Payload]
MAX_STREAM_ID = 200


@dataclass(frozen=True)
class EventSchema:
    """A catalogued type's current schema version and the payload fields it always carries."""

    version: int
    required: frozenset[str] = frozenset()


def _schema(version: int, *required: str) -> EventSchema:
    return EventSchema(version, frozenset(required))


_C, _F, _S, _K, _P, _T = (
    ConversationEvents, FeedbackEvents, SandboxEvents, KnowledgeEvents, PrivacyEvents,
    TrainingEvents,
)  # fmt: skip
_ASKED_FIELDS = ("answer_id", "user", "channel", "thread", "text")

CATALOGUE: Mapping[str, EventSchema] = {
    # conversation
    # optional `scope` (absent: none): the source ids the channel was scoped to when asked
    _C.QUESTION_ASKED: _schema(1, *_ASKED_FIELDS),
    _C.FOLLOW_UP_ASKED: _schema(1, *_ASKED_FIELDS, "follows"),
    # v2: `answer_mode` (generated, extractive, declined) is always present; see upcasters()
    _C.ANSWER_GIVEN: _schema(2, "answer_id", "thread", "text", "model_version", "answer_mode"),
    _C.ANSWER_FAILED: _schema(1, "answer_id", "thread", "reason"),
    _C.QUESTION_EDITED: _schema(1, "answer_id", "user", "text"),
    _C.QUESTION_DELETED: _schema(1, "answer_id", "user"),
    # feedback
    # optional `capped` (absent: false): over the rater's hourly cap, stored but counted nowhere
    # (readers ask domain.feedback.counts); optional, so no new version
    _F.RATING_GIVEN: _schema(1, "answer_id", "user", "value", "by_asker"),
    _F.RATING_RETRACTED: _schema(1, "answer_id", "user", "value"),
    # sandbox
    _S.SNIPPET_RUN: _schema(1, "user", "channel", "language", "code"),
    # knowledge
    _K.SOURCE_REGISTERED: _schema(1, "source_id", "name", "root", "license"),
    _K.DOCUMENT_INGESTED: _schema(1, "source_id", "document_id", "path", "content_hash", "chunks"),
    _K.DOCUMENT_REMOVED: _schema(1, "source_id", "document_id", "path"),
    # platform, workspace and channel as pseudonyms (channel "*": the whole workspace); no
    # sources: the scope is removed
    _K.CHANNEL_SCOPED: _schema(1, "platform", "workspace", "channel", "sources", "source_ids"),
    _K.SOURCE_ADDED: _schema(1, "source_id", "name", "spec"),
    # v2: the fetcher's state is `state` (whole: a source's first sync) or `state_patch` (what
    # changed of it since the last sync, domain/source_state.py); v1 always carried `state`
    _K.SOURCE_SYNCED: _schema(2, "source_id", "revision", "license", "changes"),
    _K.SOURCE_SYNC_FAILED: _schema(1, "source_id", "error", "failures"),
    _K.SOURCE_REMOVED: _schema(1, "source_id", "documents"),
    # privacy
    _P.USER_OPTED_OUT: _schema(1, "user", "platform"),
    _P.USER_OPTED_IN: _schema(1, "user", "platform"),
    _P.CHANNEL_EXCLUDED: _schema(1, "channel", "platform"),
    _P.USER_ERASED: _schema(1, "user", "keys_shredded"),
    # training
    _T.DATASET_CURATED: _schema(1, "dataset_hash", "examples"),
    _T.TRAINING_STARTED: _schema(1, "version"),
    _T.TRAINING_FINISHED: _schema(1, "version"),
    _T.TRAINING_FAILED: _schema(1, "version", "error"),
    _T.MODEL_EVALUATED: _schema(1, "version", "passed"),
    _T.MODEL_PROMOTED: _schema(1, "version", "previous"),
    _T.MODEL_ROLLED_BACK: _schema(1, "from_version", "to_version", "reason"),
    _T.SYNTHETIC_EXAMPLE_GENERATED: _schema(1, "chunk_id", "source", "question", "answer"),
    # admin: who (a pseudonym), what (arguments scrubbed, people and channels as pseudonyms)
    AdminEvents.ADMIN_COMMAND_ISSUED: _schema(
        1, "actor", "platform", "command", "arguments", "outcome"
    ),
}


def current_version(event_type: str) -> int:
    """The schema version an append of `event_type` is written at."""
    return _schema_of(event_type).version


def _schema_of(event_type: str) -> EventSchema:
    schema = CATALOGUE.get(event_type)
    if schema is None:
        raise InvalidEvent(f"event type {event_type!r} is not in the catalogue")
    return schema


def validate(event: NewEvent) -> None:
    """Refuse an uncatalogued type, an old or unknown schema version, or a missing field."""
    schema = _schema_of(event.type)
    if event.schema_version != schema.version:
        raise InvalidEvent(
            f"{event.type} is written at schema version {schema.version}, "
            f"not {event.schema_version}"
        )
    missing = sorted(schema.required - event.payload.keys())
    if missing:
        raise InvalidEvent(f"{event.type} payload is missing {', '.join(missing)}")


def validate_append(stream_id: str, events: Sequence[NewEvent]) -> None:
    """What every event store checks before it touches anything: a stream id, at least one
    event, every event catalogued and complete."""
    if not stream_id or len(stream_id) > MAX_STREAM_ID:
        raise InvalidEvent(f"stream id must be 1 to {MAX_STREAM_ID} characters")
    if not events:
        raise InvalidEvent("an append needs at least one event")
    for event in events:
        validate(event)


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


def _answer_given_v1_to_v2(payload: Payload) -> Payload:
    """Answers stored before answer modes existed were all generated by the model (later v1
    rows already carry the field)."""
    payload.setdefault("answer_mode", "generated")
    return payload


def _source_synced_v1_to_v2(payload: Payload) -> Payload:
    """v1 wrote the whole state at every sync: a v2 payload as it is (`state`, whole)."""
    return payload


def upcasters() -> Upcasters:
    """The registry every event store reads through: one step per old version."""
    registry = Upcasters()
    registry.register(ConversationEvents.ANSWER_GIVEN, 1, _answer_given_v1_to_v2)
    registry.register(KnowledgeEvents.SOURCE_SYNCED, 1, _source_synced_v1_to_v2)
    return registry
