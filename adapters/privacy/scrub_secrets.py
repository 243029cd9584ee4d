"""Secret detectors: private keys, credentials in URLs, vendor tokens and secret assignments."""

from __future__ import annotations

import re
from collections.abc import Iterator

from adapters.privacy import patterns
from adapters.privacy.checksums import shannon_entropy
from domain.privacy import Finding

SECRET = "SECRET"


def _value_span(match: re.Match[str], *groups: str) -> tuple[int, int]:
    for group in groups:
        if match.group(group) is not None:
            return match.span(group)
    return match.span()


def pem_private_keys(text: str) -> Iterator[Finding]:
    if "PRIVATE KEY" not in text:
        return
    for match in patterns.PEM_PRIVATE_KEY.finditer(text):
        yield Finding(SECRET, *match.span())


def url_passwords(text: str) -> Iterator[Finding]:
    if "://" not in text:
        return
    for match in patterns.URL_PASSWORD.finditer(text):
        if not patterns.PLACEHOLDER_VALUE.match(match["value"]):
            yield Finding(SECRET, *match.span("value"))


def cli_passwords(text: str) -> Iterator[Finding]:
    for match in patterns.CLI_USER_PASSWORD.finditer(text):
        value = match["value"]
        if not patterns.PLACEHOLDER_VALUE.match(value) and _is_password(value):
            yield Finding(SECRET, *match.span("value"))


def webhook_urls(text: str) -> Iterator[Finding]:
    for match in patterns.WEBHOOK_URL.finditer(text):
        yield Finding(SECRET, *_value_span(match, "value", "value2"))


def vendor_tokens(text: str) -> Iterator[Finding]:
    for pattern in (
        patterns.JWT,
        patterns.VENDOR_TOKEN,
        patterns.AWS_ACCESS_KEY_ID,
        patterns.DISCORD_BOT_TOKEN,
    ):
        for match in pattern.finditer(text):
            yield Finding(SECRET, *match.span())
    for match in patterns.AWS_SECRET_KEY.finditer(text):
        yield Finding(SECRET, *match.span("value"))


def auth_headers(text: str) -> Iterator[Finding]:
    for match in patterns.AUTH_HEADER.finditer(text):
        if _is_random(match["value"], min_length=12):
            yield Finding(SECRET, *match.span("value"))


def secret_assignments(text: str) -> Iterator[Finding]:
    for match in patterns.SECRET_ASSIGNMENT.finditer(text):
        start, end = _value_span(match, "quoted", "bare")
        value = text[start:end]
        if match["bare"] is not None:
            if match.start() and text[match.start() - 1] in "?&":
                # A URL query parameter ends at the next '&'.
                value = value.split("&", 1)[0]
                end = start + len(value)
            if any(char in value for char in "([{") or patterns.CODE_REFERENCE.match(value):
                continue
        if patterns.PLACEHOLDER_VALUE.match(value.strip()):
            continue
        is_password = bool(patterns.PASSWORD_NAME.search(match["name"]))
        if _is_password(value) if is_password else _is_random(value, min_length=12):
            yield Finding(SECRET, start, end)


def _is_password(value: str) -> bool:
    """A password only needs to look chosen: six characters mixing letters with digits or
    symbols, or a long passphrase."""
    if len(value) < 6:
        return False
    has_letter = any(char.isalpha() for char in value)
    has_other = any(not char.isalpha() for char in value)
    return (has_letter and has_other) or len(value) >= 12


def _is_random(value: str, *, min_length: int) -> bool:
    """A token: long, mixed character classes and high per-character entropy."""
    if len(value) < min_length:
        return False
    classes = sum(
        (
            any(char.islower() for char in value),
            any(char.isupper() for char in value),
            any(char.isdigit() for char in value),
        )
    )
    return classes >= 2 and shannon_entropy(value) >= 3.0
