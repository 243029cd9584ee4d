"""Event value objects: what is appended (NewEvent) and what is read back (RecordedEvent)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from domain.errors import InvalidEvent

# Stable type strings: "context.PascalName", never a Python import path.
_TYPE_PATTERN = re.compile(r"^[a-z][a-z_]*\.[A-Z][A-Za-z0-9]*$")
NO_STREAM = -1


def validate_type(event_type: str) -> str:
    if not _TYPE_PATTERN.fullmatch(event_type):
        raise InvalidEvent(f"event type {event_type!r} is not of the form 'context.Name'")
    return event_type


def _json_roundtrip(value: Mapping[str, Any], what: str) -> dict[str, Any]:
    """Payloads must be plain JSON: anything else would not survive the store unchanged."""
    try:
        decoded = json.loads(json.dumps(dict(value), allow_nan=False))
    except (TypeError, ValueError) as error:
        raise InvalidEvent(f"{what} is not plain JSON: {error}") from error
    if not isinstance(decoded, dict):  # pragma: no cover - dict in, dict out
        raise InvalidEvent(f"{what} must be a JSON object")
    return decoded


@dataclass(frozen=True)
class NewEvent:
    """An event about to be appended."""

    type: str
    payload: Mapping[str, Any] = field(default_factory=dict)
    schema_version: int = 1
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        validate_type(self.type)
        if self.schema_version < 1:
            raise InvalidEvent(f"schema_version must be >= 1, got {self.schema_version}")
        object.__setattr__(self, "payload", _json_roundtrip(self.payload, "payload"))
        object.__setattr__(self, "metadata", _json_roundtrip(self.metadata, "metadata"))


@dataclass(frozen=True)
class RecordedEvent:
    """An event as the store holds it, with its place in its stream and in the global order."""

    position: int
    stream_id: str
    version: int
    type: str
    schema_version: int
    payload: dict[str, Any]
    metadata: dict[str, Any]
    recorded_at: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "stream_id": self.stream_id,
            "version": self.version,
            "type": self.type,
            "schema_version": self.schema_version,
            "payload": self.payload,
            "metadata": self.metadata,
            "recorded_at": self.recorded_at.isoformat(),
        }


@dataclass(frozen=True)
class AppendResult:
    """Where an append landed; `duplicate` is true when an idempotency key had been seen already."""

    stream_id: str
    first_version: int
    last_version: int
    first_position: int
    last_position: int
    duplicate: bool = False

    @property
    def count(self) -> int:
        return self.last_version - self.first_version + 1
