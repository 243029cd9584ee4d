"""Pure domain: event value objects, the catalogue and upcasting."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.catalogue import CATALOGUE, Upcasters, upcasters, validate, validate_append
from domain.errors import InvalidEvent
from domain.events import AppendResult, NewEvent, RecordedEvent, validate_type


def recorded(event_type: str, payload: dict[str, object], schema_version: int) -> RecordedEvent:
    return RecordedEvent(
        position=1,
        stream_id="s",
        version=0,
        type=event_type,
        schema_version=schema_version,
        payload=dict(payload),
        metadata={},
        recorded_at=datetime(2026, 1, 1, tzinfo=UTC),
    )


@pytest.mark.parametrize("event_type", sorted(CATALOGUE))
def test_every_catalogued_type_is_a_stable_string(event_type: str) -> None:
    assert validate_type(event_type) == event_type
    assert CATALOGUE[event_type].version >= 1


@pytest.mark.parametrize("event_type", sorted(CATALOGUE))
def test_every_old_version_upcasts_to_the_current_one(event_type: str) -> None:
    """A version bump without its upcaster would hand readers an old shape."""
    current = CATALOGUE[event_type].version
    for old in range(1, current):
        assert upcasters().upcast(recorded(event_type, {}, old)).schema_version == current


def test_an_answer_given_before_answer_modes_was_generated() -> None:
    old = recorded("conversation.AnswerGiven", {"answer_id": "a", "text": "x"}, 1)
    current = upcasters().upcast(old)
    assert current.schema_version == 2
    assert current.payload == {"answer_id": "a", "text": "x", "answer_mode": "generated"}
    later = recorded("conversation.AnswerGiven", {"answer_mode": "extractive"}, 1)
    assert upcasters().upcast(later).payload == {"answer_mode": "extractive"}


def test_validation_refuses_what_the_catalogue_does_not_describe() -> None:
    with pytest.raises(InvalidEvent, match="not in the catalogue"):
        validate(NewEvent("feedback.FeedbackCommentGiven", {}))
    with pytest.raises(InvalidEvent, match="missing user, value"):
        validate(NewEvent("feedback.RatingRetracted", {"answer_id": "a"}))
    with pytest.raises(InvalidEvent, match="schema version 1, not 2"):
        validate(NewEvent("feedback.RatingRetracted", {}, schema_version=2))
    with pytest.raises(InvalidEvent, match="at least one event"):
        validate_append("s", [])
    validate(NewEvent("privacy.UserErased", {"user": "u", "keys_shredded": 0, "extra": 1}))


@pytest.mark.parametrize(
    "bad",
    ["", "QuestionAsked", "domain.events.QuestionAsked", "conversation.questionAsked", "a.B c"],
)
def test_types_that_look_like_import_paths_or_typos_are_refused(bad: str) -> None:
    with pytest.raises(InvalidEvent):
        NewEvent(bad)


def test_payloads_must_be_plain_json() -> None:
    with pytest.raises(InvalidEvent):
        NewEvent("conversation.QuestionAsked", {"when": datetime.now(UTC)})
    with pytest.raises(InvalidEvent):
        NewEvent("conversation.QuestionAsked", {"ratio": float("nan")})
    with pytest.raises(InvalidEvent):
        NewEvent("conversation.QuestionAsked", schema_version=0)
    event = NewEvent("conversation.QuestionAsked", {"tags": ("a", "b")})
    assert event.payload == {"tags": ["a", "b"]}  # normalised to what the store gives back


def test_upcasters_chain_old_versions_to_the_current_shape() -> None:
    upcasters = Upcasters()
    upcasters.register("feedback.RatingGiven", 1, lambda p: {**p, "weight": 1})
    upcasters.register("feedback.RatingGiven", 2, lambda p: {"score": p.pop("value"), **p})
    old = recorded("feedback.RatingGiven", {"value": 1}, schema_version=1)
    current = upcasters.upcast(old)
    assert current.schema_version == 3
    assert current.payload == {"score": 1, "weight": 1}
    assert old.payload == {"value": 1}  # the stored event is untouched
    untouched = recorded("feedback.RatingGiven", {"score": 1, "weight": 1}, schema_version=3)
    assert upcasters.upcast(untouched) is untouched


def test_an_upcaster_cannot_be_registered_twice() -> None:
    upcasters = Upcasters()
    upcasters.register("feedback.RatingGiven", 1, dict)
    with pytest.raises(InvalidEvent):
        upcasters.register("feedback.RatingGiven", 1, dict)


def test_append_result_counts_its_events() -> None:
    result = AppendResult("s", first_version=3, last_version=7, first_position=10, last_position=14)
    assert result.count == 5
