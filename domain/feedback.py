"""Ratings: emoji reactions on the bot's answers. One vote per user per answer (the latest wins),
the asker's vote flagged; reactions on anything else, and the bot's own, never count."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from domain.errors import ConcurrencyError
from domain.event_types import ConversationEvents, FeedbackEvents
from domain.events import NO_STREAM, NewEvent, RecordedEvent
from domain.ports import EventStore
from domain.privacy_service import Person, PrivacyService

POSITIVE = frozenset({"+1", "thumbsup", "👍", "white_check_mark", "✅", "heavy_check_mark", "✔"})
NEGATIVE = frozenset({"-1", "thumbsdown", "👎", "x", "❌"})
_SKIN_TONES = {chr(code) for code in range(0x1F3FB, 0x1F400)}
_VARIATION_SELECTOR = "\ufe0f"
NOT_AN_ANSWER = "not an answer of the bot"
_ATTEMPTS = 12  # optimistic retries when votes on one answer race (a popular answer)


def rating_value(emoji: str) -> int | None:
    """+1, -1, or None for an emoji that is not a rating. Accepts Slack names (":+1:",
    "thumbsup::skin-tone-3") and Unicode (with skin tones and variation selectors)."""
    name = emoji.strip().strip(":").split("::", 1)[0].lower()
    name = "".join(c for c in name if c != _VARIATION_SELECTOR and c not in _SKIN_TONES)
    if name in POSITIVE:
        return 1
    if name in NEGATIVE:
        return -1
    return None


@dataclass(frozen=True)
class Reaction:
    person: Person
    answer_id: str
    emoji: str
    removed: bool = False
    by_bot: bool = False  # the platform adapter knows the bot's own user id
    platform_event_id: str | None = None


@dataclass(frozen=True)
class RatingOutcome:
    recorded: str | None  # the event type appended, or None when the reaction was ignored
    reason: str


@dataclass
class AnswerVotes:
    """A conversation stream folded into what a vote decision needs."""

    asker: str | None = None
    answered: bool = False
    votes: dict[str, int] = field(default_factory=dict)
    version: int = NO_STREAM

    @classmethod
    def fold(cls, events: Sequence[RecordedEvent]) -> AnswerVotes:
        state = cls()
        for event in events:
            state.version = event.version
            if event.type in ConversationEvents.ASKED:
                state.asker = event.payload["user"]
            elif event.type == ConversationEvents.ANSWER_GIVEN:
                state.answered = True
            elif event.type == FeedbackEvents.RATING_GIVEN:
                state.votes[event.payload["user"]] = event.payload["value"]
            elif event.type == FeedbackEvents.RATING_RETRACTED:
                state.votes.pop(event.payload["user"], None)
        return state


def decide_vote(
    state: AnswerVotes, answer_id: str, user: str, value: int, emoji: str, removed: bool
) -> NewEvent | str:
    """The event a reaction leads to, or why it leads to none."""
    if not state.answered:
        return NOT_AN_ANSWER
    current = state.votes.get(user)
    base = {"answer_id": answer_id, "user": user, "value": value, "by_asker": user == state.asker}
    if removed:
        if current != value:  # a later vote already replaced this one, or there was none
            return "no such vote to retract"
        return NewEvent(FeedbackEvents.RATING_RETRACTED, base)
    if current == value:
        return "already counted"
    return NewEvent(FeedbackEvents.RATING_GIVEN, {**base, "emoji": emoji, "replaces": current})


class RateAnswer:
    def __init__(self, store: EventStore, privacy: PrivacyService) -> None:
        self._store = store
        self._privacy = privacy

    async def __call__(self, reaction: Reaction) -> RatingOutcome:
        if reaction.by_bot:
            return RatingOutcome(None, "the bot's own reaction")
        value = rating_value(reaction.emoji)
        if value is None:
            return RatingOutcome(None, f"{reaction.emoji} is not a rating")
        user = self._privacy.pseudonym(reaction.person)
        stream = f"conversation-{reaction.answer_id}"
        for attempt in range(_ATTEMPTS):
            state = AnswerVotes.fold(await self._store.read_stream(stream))
            decision = decide_vote(
                state, reaction.answer_id, user, value, reaction.emoji, reaction.removed
            )
            if isinstance(decision, str):
                return RatingOutcome(None, decision)
            try:
                await self._store.append(
                    stream, state.version, [decision], idempotency_key=reaction.platform_event_id
                )
            except ConcurrencyError:
                # Another vote on this answer landed first: back off with jitter, decide again.
                await asyncio.sleep(random.uniform(0, 0.002 * 2 ** min(attempt, 7)))
                continue
            return RatingOutcome(decision.type, "positive" if value > 0 else "negative")
        raise ConcurrencyError(stream, state.version, state.version)
