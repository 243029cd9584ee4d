"""AES-256-GCM sealing of scrubbed text under the author's key for the day it was written.

Format: `v1:<epoch>:<base64(nonce | ciphertext+tag)>`; the associated data binds the ciphertext
to its user and epoch, so a sealed text moved to another user does not open."""

from __future__ import annotations

import base64
import binascii
import os
from datetime import datetime

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from domain.errors import InvalidEvent
from domain.ports import KeyVault

VERSION = "v1"
NONCE_BYTES = 12


class AesGcmSealer:
    def __init__(self, keys: KeyVault) -> None:
        self._keys = keys

    async def seal(
        self, user: str, text: str, written_at: datetime, scope: str | None = None
    ) -> str:
        # A scoped epoch sorts after its day and before the next, so retention still works.
        epoch = written_at.date().isoformat() + (f"/{scope}" if scope else "")
        if ":" in epoch:
            raise InvalidEvent("a sealing scope cannot contain ':'")
        key = await self._keys.data_key(user, epoch)
        nonce = os.urandom(NONCE_BYTES)
        ciphertext = AESGCM(key).encrypt(nonce, text.encode(), _aad(user, epoch))
        return f"{VERSION}:{epoch}:{base64.b64encode(nonce + ciphertext).decode()}"

    async def shred(self, user: str, sealed: str) -> bool:
        _version, epoch, _blob = _parse(sealed)
        return await self._keys.shred_key(user, epoch) > 0

    async def unseal(self, user: str, sealed: str) -> str | None:
        _version, epoch, blob = _parse(sealed)
        key = await self._keys.existing_key(user, epoch)
        if key is None:
            return None  # shredded: erased or past retention
        try:
            plaintext = AESGCM(key).decrypt(
                blob[:NONCE_BYTES], blob[NONCE_BYTES:], _aad(user, epoch)
            )
        except InvalidTag as error:
            raise InvalidEvent("sealed text does not open with its user's key") from error
        return plaintext.decode()


def _aad(user: str, epoch: str) -> bytes:
    return f"{VERSION}|{user}|{epoch}".encode()


def _parse(sealed: str) -> tuple[str, str, bytes]:
    parts = sealed.split(":", 2)
    if len(parts) != 3 or parts[0] != VERSION:
        raise InvalidEvent("not a sealed text of a known version")
    try:
        blob = base64.b64decode(parts[2], validate=True)
    except (binascii.Error, ValueError) as error:
        raise InvalidEvent("sealed text is not valid base64") from error
    if len(blob) <= NONCE_BYTES:
        raise InvalidEvent("sealed text is truncated")
    return parts[0], parts[1], blob
