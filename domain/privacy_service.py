"""Privacy use cases: protect text before it is stored, consent, erasure and retention."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from domain.errors import InvalidEvent
from domain.event_types import PrivacyEvents
from domain.events import NewEvent
from domain.ports import Clock, EventStore, KeyVault, Pseudonymizer, Scrubber, TextSealer

MAX_TEXT = 40_000


@dataclass(frozen=True)
class Person:
    """A platform user as the platform names them. Never stored: only its pseudonym is."""

    platform: str
    workspace: str
    user_id: str


@dataclass(frozen=True)
class ProtectedText:
    sealed: str
    redactions: tuple[str, ...]  # kinds removed, for counts in lineage (never the values)


@dataclass(frozen=True)
class Erasure:
    user: str
    keys_shredded: int
    position: int


class PrivacyService:
    def __init__(
        self,
        store: EventStore,
        scrubber: Scrubber,
        pseudonyms: Pseudonymizer,
        sealer: TextSealer,
        keys: KeyVault,
        clock: Clock,
    ) -> None:
        self._store = store
        self._scrubber = scrubber
        self._pseudonyms = pseudonyms
        self._sealer = sealer
        self._keys = keys
        self._clock = clock

    def pseudonym(self, person: Person) -> str:
        return self._pseudonyms.user(person.platform, person.workspace, person.user_id)

    def channel(self, platform: str, workspace: str, channel_id: str) -> str:
        return self._pseudonyms.channel(platform, workspace, channel_id)

    async def protect(self, user: str, text: str, scope: str | None = None) -> ProtectedText:
        """Scrub, then encrypt under the user's key: the only form text is ever stored in.
        Texts sharing a `scope` (a conversation) can later be shredded together."""
        if len(text) > MAX_TEXT:
            raise InvalidEvent(f"text of {len(text)} characters is over the {MAX_TEXT} limit")
        scrubbed = self._scrubber.scrub(text)
        sealed = await self._sealer.seal(user, scrubbed.text, self._clock.now(), scope)
        return ProtectedText(sealed, tuple(finding.kind for finding in scrubbed.findings))

    def scrub(self, text: str) -> str:
        """PII and secrets out, for text that is shown but not stored (snippet output)."""
        return self._scrubber.scrub(text).text

    async def shred(self, user: str, sealed: str) -> bool:
        """Make this text (and all sealed in its scope) unreadable for good."""
        return await self._sealer.shred(user, sealed)

    async def reveal(self, user: str, sealed: str) -> str | None:
        return await self._sealer.unseal(user, sealed)

    async def opt_out(self, person: Person) -> str:
        return await self._record_user(person, PrivacyEvents.USER_OPTED_OUT)

    async def opt_in(self, person: Person) -> str:
        return await self._record_user(person, PrivacyEvents.USER_OPTED_IN)

    async def exclude_channel(self, platform: str, workspace: str, channel_id: str) -> str:
        channel = self.channel(platform, workspace, channel_id)
        event = NewEvent(PrivacyEvents.CHANNEL_EXCLUDED, {"channel": channel, "platform": platform})
        await self._store.append(f"privacy-channel-{channel}", None, [event])
        return channel

    async def forget(self, person: Person) -> Erasure:
        """Crypto-shred: the keys go first (the irreversible part), then the event says so.
        Running it again is harmless: nothing left to shred, one more UserErased."""
        user = self.pseudonym(person)
        shredded = await self._keys.shred_user(user)
        event = NewEvent(PrivacyEvents.USER_ERASED, {"user": user, "keys_shredded": shredded})
        result = await self._store.append(f"privacy-user-{user}", None, [event])
        return Erasure(user, shredded, result.last_position)

    async def shred_expired(self, retention_days: int) -> int:
        """Retention: shred the keys of every day older than the window. Curated examples are
        anonymised copies and stay; the raw interactions become unreadable."""
        cutoff = (self._clock.now() - timedelta(days=retention_days)).date().isoformat()
        return await self._keys.shred_before(cutoff)

    async def _record_user(self, person: Person, event_type: str) -> str:
        user = self.pseudonym(person)
        event = NewEvent(event_type, {"user": user, "platform": person.platform})
        await self._store.append(f"privacy-user-{user}", None, [event])
        return user
