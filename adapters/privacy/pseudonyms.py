"""HMAC-SHA256 pseudonyms: stable for a pepper, meaningless without it."""

from __future__ import annotations

import hashlib
import hmac


class HmacPseudonymizer:
    def __init__(self, pepper: bytes) -> None:
        self._pepper = pepper

    def user(self, platform: str, workspace: str, user_id: str) -> str:
        return self._digest(f"{platform}:{workspace}:{user_id}")

    def channel(self, platform: str, workspace: str, channel_id: str) -> str:
        # A separate namespace, so a channel id never collides with a user id.
        return self._digest(f"channel|{platform}:{workspace}:{channel_id}")

    def _digest(self, value: str) -> str:
        return hmac.new(self._pepper, value.encode(), hashlib.sha256).hexdigest()
