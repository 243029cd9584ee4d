"""Abuse limits: token buckets on questions and snippet runs, per user and per channel, and a cap
on how many ratings one user's votes move in an hour.

A refused question or snippet is refused before anything is stored or run (`RateLimited`, with
a friendly message saying when to try again), so nothing stored is ever lost and a later retry
of the same platform event is taken like a first delivery. A vote over the rating cap is stored
like any other, marked `capped`, and counts nowhere (stats, curation, the leaderboard,
automatic rollback): see `domain/feedback.py`.

The buckets and the rating window live in this process's memory (pure: the time comes from an
injected monotonic clock). Behind several replicas each one keeps its own, so a user spreading
their traffic over N replicas gets up to N times the limits; a restart forgets them. Limits are
a brake on floods, not an accounting: that is the accepted trade for no database round trip on
the hot path.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal, TypeVar

from domain.errors import BuddyError

if TYPE_CHECKING:
    from domain.conversation import Question
    from domain.inbound import InboundHandlers
    from domain.privacy_service import Person
    from domain.snippets import Snippet, SnippetReply

Clock = Callable[[], float]  # monotonic seconds
_T = TypeVar("_T")
Kind = Literal["question", "snippet"]
Scope = Literal["user", "channel"]
_EPSILON: Final = 1e-9  # float refill: 0.1 * 10 s is not always exactly 1.0
HOUR_S: Final = 3600.0

_MESSAGES: Final[dict[tuple[Kind, Scope], str]] = {
    ("question", "user"): "You're asking faster than I can keep up: try again in {when}.",
    ("question", "channel"): "This channel is asking a lot right now: try again in {when}.",
    ("snippet", "user"): "You've run a lot of snippets: try again in {when}.",
    ("snippet", "channel"): "This channel has run a lot of snippets: try again in {when}.",
}


class RateLimited(BuddyError):
    """A question or snippet refused by a rate limit; nothing was stored or run. `retry_after_s`
    is whole seconds (rounded up); the message is for the user as it is."""

    def __init__(self, kind: Kind, scope: Scope, retry_after_s: float) -> None:
        self.kind = kind
        self.scope = scope
        self.retry_after_s = max(1, math.ceil(retry_after_s - _EPSILON))
        super().__init__(_MESSAGES[kind, scope].format(when=say_duration(self.retry_after_s)))


def say_duration(seconds: float) -> str:
    """Whole seconds under a minute ("1 second", "20 seconds"), then rounded up to minutes
    ("a minute", "3 minutes") and hours ("an hour", "2 hours")."""
    whole = max(1, math.ceil(seconds - _EPSILON))
    if whole < 60:
        return "1 second" if whole == 1 else f"{whole} seconds"
    if whole <= HOUR_S:
        minutes = math.ceil(whole / 60)
        return "a minute" if minutes == 1 else f"{minutes} minutes"
    hours = math.ceil(whole / HOUR_S)
    return "an hour" if hours == 1 else f"{hours} hours"


@dataclass(frozen=True)
class Limit:
    """`count` actions in a burst, refilled at `count` per `per_s` seconds; 0 disables it."""

    count: int
    per_s: float = 60.0

    def __post_init__(self) -> None:
        if self.count < 0 or self.per_s < 0:
            raise ValueError(f"a rate limit cannot be negative: {self}")

    @property
    def enabled(self) -> bool:
        return self.count > 0 and self.per_s > 0

    @property
    def refill_per_s(self) -> float:
        return self.count / self.per_s if self.enabled else 0.0

    def __str__(self) -> str:
        return f"{self.count}/{self.per_s:g}" if self.enabled else "0"


OFF: Final = Limit(0)


def parse_limit(text: str) -> Limit:
    """ "N/S": N in a burst, refilled at N per S seconds ("6/60": six a minute); "N": per
    minute; "0" (or "off", or N or S of 0): no limit. A ValueError names what is wrong."""
    value = text.strip().lower()
    if value in ("", "0", "off", "none"):
        return OFF
    count_text, _, seconds_text = value.partition("/")
    try:
        count = int(count_text)
        seconds = float(seconds_text) if seconds_text else 60.0
    except ValueError:
        raise ValueError(f"rate limit {text!r} is not of the form N/SECONDS, e.g. 6/60") from None
    if count < 0 or seconds < 0 or not math.isfinite(seconds):
        raise ValueError(f"rate limit {text!r} cannot be negative")
    return Limit(count, seconds) if count and seconds else OFF


class TokenBucket:
    """`capacity` tokens, refilled continuously at `refill_per_s`; one action takes one."""

    def __init__(self, capacity: float, refill_per_s: float, now: float | None = None) -> None:
        if capacity <= 0 or refill_per_s <= 0:
            raise ValueError("a token bucket needs a positive capacity and refill rate")
        self.capacity = float(capacity)
        self.refill_per_s = float(refill_per_s)
        self.tokens = self.capacity
        self._stamp = now

    def _refill(self, now: float) -> None:
        if self._stamp is not None and now > self._stamp:
            gained = (now - self._stamp) * self.refill_per_s
            self.tokens = min(self.capacity, self.tokens + gained)
        if self._stamp is None or now > self._stamp:
            self._stamp = now

    def wait(self, now: float) -> float:
        """0.0 when a token is there now, else the seconds until one is (nothing taken)."""
        self._refill(now)
        missing = 1.0 - self.tokens
        return 0.0 if missing <= _EPSILON else missing / self.refill_per_s

    def take(self, now: float) -> float:
        """Take a token: 0.0 when allowed, else the seconds until one is available (and
        nothing is taken)."""
        waiting = self.wait(now)
        if waiting == 0.0:
            self.tokens -= 1.0
        return waiting

    def give_back(self, now: float) -> None:
        """Return a token taken for an action that did not happen after all."""
        self._refill(now)
        self.tokens = min(self.capacity, self.tokens + 1.0)

    def full(self, now: float) -> bool:
        """Full again: as good as a new bucket, so it can be forgotten."""
        self._refill(now)
        return self.tokens >= self.capacity - _EPSILON


class KeyedBuckets:
    """One bucket per key, under one limit. Memory stays bounded: buckets full again are
    forgotten (a new one is the same), swept every `sweep_every` checks; past `max_keys` the
    least recently used go first (they start full again: lenient, never stricter)."""

    def __init__(self, limit: Limit, *, max_keys: int = 50_000, sweep_every: int = 1_000) -> None:
        self.limit = limit
        self._buckets: OrderedDict[Hashable, TokenBucket] = OrderedDict()
        self._max_keys = max_keys
        self._sweep_every = sweep_every
        self._checks = 0

    def __len__(self) -> int:
        return len(self._buckets)

    def wait(self, key: Hashable, now: float) -> float:
        if not self.limit.enabled:
            return 0.0
        bucket = self._buckets.get(key)
        return 0.0 if bucket is None else bucket.wait(now)

    def take(self, key: Hashable, now: float) -> None:
        """Take a token; the caller checked `wait` first."""
        if not self.limit.enabled:
            return
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = TokenBucket(self.limit.count, self.limit.refill_per_s, now)
            self._buckets[key] = bucket
        self._buckets.move_to_end(key)
        bucket.take(now)
        self._checks += 1
        if self._checks % self._sweep_every == 0 or len(self._buckets) > self._max_keys:
            self.forget_idle(now)

    def give_back(self, key: Hashable, now: float) -> None:
        bucket = self._buckets.get(key)
        if bucket is not None:
            bucket.give_back(now)

    def forget_idle(self, now: float) -> int:
        """Drop the buckets that are full again (and the oldest past `max_keys`); how many."""
        idle = [key for key, bucket in self._buckets.items() if bucket.full(now)]
        for key in idle:
            del self._buckets[key]
        dropped = len(idle)
        while len(self._buckets) > self._max_keys:
            self._buckets.popitem(last=False)
            dropped += 1
        return dropped


class RateLimits:
    """Questions and snippet runs, each limited per user and per channel. A check takes a token
    from the user's bucket and from the channel's only when both have one: a refusal by one
    costs nothing from the other."""

    def __init__(
        self, *, questions_per_user: Limit = OFF, questions_per_channel: Limit = OFF,
        snippets_per_user: Limit = OFF, snippets_per_channel: Limit = OFF,
        clock: Clock = time.monotonic, max_keys: int = 50_000,
    ) -> None:  # fmt: skip
        self._clock = clock
        self.buckets: dict[tuple[Kind, Scope], KeyedBuckets] = {
            ("question", "user"): KeyedBuckets(questions_per_user, max_keys=max_keys),
            ("question", "channel"): KeyedBuckets(questions_per_channel, max_keys=max_keys),
            ("snippet", "user"): KeyedBuckets(snippets_per_user, max_keys=max_keys),
            ("snippet", "channel"): KeyedBuckets(snippets_per_channel, max_keys=max_keys),
        }

    @property
    def enabled(self) -> bool:
        return any(buckets.limit.enabled for buckets in self.buckets.values())

    def check(self, kind: Kind, person: Person, channel_id: str) -> None:
        """Take a token for one `kind` by `person` in the channel, or raise RateLimited (with
        the wait until both buckets allow it) and take nothing."""
        now = self._clock()
        keys = _keys(person, channel_id)
        waits = {scope: self.buckets[kind, scope].wait(keys[scope], now) for scope in keys}
        longest = max(waits.values())
        if longest > 0.0:
            scope: Scope = "user" if waits["user"] >= waits["channel"] else "channel"
            raise RateLimited(kind, scope, longest)
        for scope_, key in keys.items():
            self.buckets[kind, scope_].take(key, now)

    def give_back(self, kind: Kind, person: Person, channel_id: str) -> None:
        """Return the tokens of a checked action that did not happen (nothing was stored)."""
        now = self._clock()
        for scope, key in _keys(person, channel_id).items():
            self.buckets[kind, scope].give_back(key, now)

    def forget_idle(self) -> int:
        now = self._clock()
        return sum(buckets.forget_idle(now) for buckets in self.buckets.values())

    def tracked(self) -> int:
        """How many buckets are held (for tests and a memory check)."""
        return sum(len(buckets) for buckets in self.buckets.values())


def _keys(person: Person, channel_id: str) -> dict[Scope, Hashable]:
    # Platform ids stay in this process's memory only: never stored, never logged.
    return {"user": person, "channel": (person.platform, person.workspace, channel_id)}


class RatingCap:
    """At most `per_hour` counted votes per user in any rolling hour (`window_s`); 0: no cap.

    `take` reserves a place in the user's window (None: over the cap, the vote is stored
    `capped`), `give_back` returns one for a vote that was not stored after all. Per process:
    behind N replicas a user can get up to N times the cap counted, and a restart forgets the
    window (see the module docstring). Memory: a user's window holds at most `per_hour`
    stamps; windows with nothing left in the hour are swept, and past `max_users` the least
    recently voting are forgotten."""

    def __init__(
        self, per_hour: int, *, clock: Clock = time.monotonic, window_s: float = HOUR_S,
        max_users: int = 100_000,
    ) -> None:  # fmt: skip
        if per_hour < 0:
            raise ValueError("the rating cap cannot be negative")
        self.per_hour = per_hour
        self._clock = clock
        self._window_s = window_s
        self._max_users = max_users
        self._votes: OrderedDict[str, deque[float]] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return self.per_hour > 0

    def take(self, user: str) -> float | None:
        """A place for one counted vote by `user` (its stamp, for `give_back`), or None when
        the user's votes in the last hour already reached the cap."""
        if not self.enabled:
            return 0.0
        now = self._clock()
        window = self._votes.get(user)
        if window is None:
            window = self._votes[user] = deque()
        self._votes.move_to_end(user)
        while window and window[0] <= now - self._window_s:
            window.popleft()
        if len(window) >= self.per_hour:
            return None
        window.append(now)
        if len(self._votes) > self._max_users:
            self.forget_idle()
        return now

    def give_back(self, user: str, stamp: float | None) -> None:
        window = self._votes.get(user)
        if stamp is None or window is None or not self.enabled:
            return
        with contextlib.suppress(ValueError):  # swept already
            window.remove(stamp)

    def forget_idle(self) -> int:
        """Drop users with no vote left in the window (and the oldest past `max_users`)."""
        horizon = self._clock() - self._window_s
        idle = [user for user, window in self._votes.items() if not window or window[-1] <= horizon]
        for user in idle:
            del self._votes[user]
        dropped = len(idle)
        while len(self._votes) > self._max_users:
            self._votes.popitem(last=False)
            dropped += 1
        return dropped

    def tracked(self) -> int:
        return len(self._votes)


class _Recent:
    """The last `size` accepted platform event ids (a redelivery is not limited twice)."""

    def __init__(self, size: int = 10_000) -> None:
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._size = size

    def add(self, key: str) -> None:
        self._ids[key] = None
        self._ids.move_to_end(key)
        while len(self._ids) > self._size:
            self._ids.popitem(last=False)

    def __contains__(self, key: str) -> bool:
        return key in self._ids


def with_rate_limits(
    handlers: InboundHandlers, limits: RateLimits,
    delivered: Callable[[str], Awaitable[bool]] | None = None,
) -> InboundHandlers:  # fmt: skip
    """`handlers` with questions (`accept`) and snippet runs (`run_snippet`) checked against
    `limits` first: a refusal raises RateLimited before anything is stored or run. Tokens are
    given back when the question could not be stored (the platform's retry is then taken like
    the first delivery) or the snippet did not run (busy sandbox, too long). A redelivery of a
    question accepted here is passed through unlimited: the store takes it once anyway; so is
    one another replica stored (`delivered`: the store's idempotency keys), when the platform's
    retry lands elsewhere."""
    if not limits.enabled:
        return handlers
    inner_accept, inner_run = handlers.accept, handlers.run_snippet
    accepted = _Recent()

    async def accept(question: Question) -> str:
        event_id = question.platform_event_id
        if event_id is not None and event_id in accepted:
            return await inner_accept(question)
        try:
            limits.check("question", question.person, question.channel_id)
        except RateLimited:
            if event_id is not None and delivered is not None and await delivered(event_id):
                return await inner_accept(question)  # stored already: answers the retry
            raise
        answer_id = await _refunded_on_error(
            inner_accept(question),
            lambda: limits.give_back("question", question.person, question.channel_id),
        )
        if event_id is not None:
            accepted.add(event_id)
        return answer_id

    async def run_snippet(snippet: Snippet) -> SnippetReply:
        limits.check("snippet", snippet.person, snippet.channel_id)

        def refund() -> None:
            limits.give_back("snippet", snippet.person, snippet.channel_id)

        reply = await _refunded_on_error(inner_run(snippet), refund)
        if reply.result is None:  # nothing ran (busy, too long): it costs nothing
            refund()
        return reply

    return dataclasses.replace(handlers, accept=accept, run_snippet=run_snippet)


async def _refunded_on_error(work: Awaitable[_T], refund: Callable[[], None]) -> _T:
    try:
        return await work
    except BaseException:  # not stored, or not run: the user's retry must not pay twice
        refund()
        raise
