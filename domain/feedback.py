"""Ratings: emoji reactions on the bot's answers. One vote per user per answer (the latest wins),
the asker's vote flagged; reactions on anything else, and the bot's own, never count.

A vote over the rater's hourly cap (`domain.rate_limits.RatingCap`) is stored like any other,
marked `capped`, and moves no rating: every reader of `RatingGiven` asks `counts(payload)`.
Such a vote still replaces the rater's earlier vote on that answer (it is their latest), so the
earlier one stops counting too, as if retracted; a retraction is always honoured and never
capped: taking one's own vote back adds no weight."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from domain.errors import ConcurrencyError
from domain.event_types import ConversationEvents, FeedbackEvents
from domain.events import NO_STREAM, NewEvent, RecordedEvent
from domain.ports import EventStore
from domain.privacy_service import Person, PrivacyService

if TYPE_CHECKING:
    from domain.rate_limits import RatingCap

POSITIVE = frozenset({"+1", "thumbsup", "👍", "white_check_mark", "✅", "heavy_check_mark", "✔"})
NEGATIVE = frozenset({"-1", "thumbsdown", "👎", "x", "❌"})
_SKIN_TONES = {chr(code) for code in range(0x1F3FB, 0x1F400)}
_VARIATION_SELECTOR = "\ufe0f"
NOT_AN_ANSWER = "not an answer of the bot"
_ATTEMPTS = 12  # optimistic retries when votes on one answer race (a popular answer)
CAPPED_REASON = "recorded, but you've rated a lot this hour: it won't count towards the ratings"


def counts(payload: Mapping[str, Any]) -> bool:
    """Whether a stored `RatingGiven` moves the ratings: not when it was over its rater's
    hourly cap. `capped` is optional (absent before caps existed): absent means it counts."""
    return not payload.get("capped", False)


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
    capped: bool = False  # stored, but over the rater's hourly cap: it counts nowhere


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
    state: AnswerVotes, answer_id: str, user: str, value: int, emoji: str, removed: bool,
    capped: bool = False,
) -> NewEvent | str:  # fmt: skip
    """The event a reaction leads to, or why it leads to none. A `capped` vote is over the
    rater's hourly cap: stored, marked, and counted nowhere."""
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
    given = {**base, "emoji": emoji, "replaces": current, "capped": capped}
    return NewEvent(FeedbackEvents.RATING_GIVEN, given)


class RateAnswer:
    """Records a reaction as a vote. With a `cap`, a user's votes beyond its hourly number are
    stored `capped` (nothing is lost) and move no rating."""

    def __init__(
        self, store: EventStore, privacy: PrivacyService, *, cap: RatingCap | None = None
    ) -> None:
        self._store = store
        self._privacy = privacy
        self._cap = cap

    async def __call__(self, reaction: Reaction) -> RatingOutcome:
        if reaction.by_bot:
            return RatingOutcome(None, "the bot's own reaction")
        value = rating_value(reaction.emoji)
        if value is None:
            return RatingOutcome(None, f"{reaction.emoji} is not a rating")
        user = self._privacy.pseudonym(reaction.person)
        slot = _Slot(self._cap, user)
        counted = False
        try:
            outcome, counted = await self._record(reaction, user, value, slot)
        finally:
            if not counted:  # no new counted vote: its place in the window is not used
                slot.release()
        return outcome

    async def _record(
        self, reaction: Reaction, user: str, value: int, slot: _Slot
    ) -> tuple[RatingOutcome, bool]:
        """The outcome, and whether a new counted vote was appended."""
        stream = f"conversation-{reaction.answer_id}"
        for attempt in range(_ATTEMPTS):
            state = AnswerVotes.fold(await self._store.read_stream(stream))
            capped = not reaction.removed and slot.over_cap(state, value)
            decision = decide_vote(
                state, reaction.answer_id, user, value, reaction.emoji, reaction.removed, capped
            )
            if isinstance(decision, str):
                return RatingOutcome(None, decision), False
            try:
                result = await self._store.append(
                    stream, state.version, [decision], idempotency_key=reaction.platform_event_id
                )
            except ConcurrencyError:
                # Another vote on this answer landed first: back off with jitter, decide again.
                await asyncio.sleep(random.uniform(0, 0.002 * 2 ** min(attempt, 7)))
                continue
            if capped and not result.duplicate:
                return RatingOutcome(decision.type, CAPPED_REASON, capped=True), False
            new_vote = decision.type == FeedbackEvents.RATING_GIVEN and not result.duplicate
            return RatingOutcome(decision.type, "positive" if value > 0 else "negative"), new_vote
        raise ConcurrencyError(stream, state.version, state.version)


class _Slot:
    """One vote's place in its rater's hourly window, reserved at most once however often the
    append is retried, and given back when the vote ends up not counting."""

    def __init__(self, cap: RatingCap | None, user: str) -> None:
        self._cap = cap
        self._user = user
        self._asked = False
        self._stamp: float | None = None

    def over_cap(self, state: AnswerVotes, value: int) -> bool:
        """Whether a vote of `value` is over the cap; a place is taken the first time a vote
        would be new (not when it repeats the rater's current vote: "already counted")."""
        if self._cap is None or not self._cap.enabled or state.votes.get(self._user) == value:
            return False
        if not self._asked:
            self._asked = True
            self._stamp = self._cap.take(self._user)
        return self._stamp is None

    def release(self) -> None:
        if self._cap is not None and self._stamp is not None:
            self._cap.give_back(self._user, self._stamp)
            self._stamp = None
