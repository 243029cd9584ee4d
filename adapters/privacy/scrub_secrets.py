"""Secret detectors: private keys, credentials in URLs, vendor tokens and secret assignments."""

from __future__ import annotations

import re
from collections.abc import Iterator

from adapters.privacy import patterns
from adapters.privacy.checksums import shannon_entropy
from domain.privacy import Finding

SECRET = "SECRET"


def _value_span(match: re.Match[str], *groups: str) -> tuple[int, int]:
    found = match.groupdict()
    for group in groups:
        if found.get(group) is not None:
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
        patterns.TELEGRAM_BOT_TOKEN,
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
    """`name = value` in its many spellings (.env, YAML, JSON, INI, code, XML, command lines,
    connection strings), where the name ends in password, secret, token, api_key..."""
    lowered = text.lower()
    if any(word in lowered for word in _KEYWORD_STEMS):
        for match in patterns.SECRET_ASSIGNMENT.finditer(text):
            in_url = match.start() > 0 and text[match.start() - 1] in "?&"
            yield from _assigned_value(text, match, in_url=in_url)
        for pattern in (
            patterns.SECRET_PAIR,
            patterns.SECRET_ATTRIBUTE_PAIR,
            patterns.SECRET_KEYED_ELEMENT,
            patterns.XML_SECRET,
            patterns.CLI_SECRET_OPTION,
        ):
            for match in pattern.finditer(text):
                yield from _assigned_value(text, match)
    for gate, pattern in _PLACED_PASSWORDS:
        if not any(word in lowered for word in gate):
            continue
        for match in pattern.finditer(text):
            start, end = _value_span(match, "quoted", "bare")
            if _is_password(text[start:end]) and not _stands_for_a_value(text[start:end]):
                yield Finding(SECRET, start, end)


# Every name SECRET_KEYWORD accepts contains one of these: a cheap test before the patterns.
_KEYWORD_STEMS = ("pass", "pwd", "secret", "token", "key")
# Passwords whose place, not their name, says what they are, each after a cheap test: the
# words one of which must occur (lower-cased) for the pattern to be worth running.
_PLACED_PASSWORDS: tuple[tuple[tuple[str, ...], re.Pattern[str]], ...] = (
    *(
        (("mysql", "mariadb", "sshpass", "redis-cli", "az "), flag)
        for flag in patterns.CLI_PASSWORD_FLAGS
    ),
    (("auth",), patterns.AUTH_PAIR),
    (("login",), patterns.NETRC_PASSWORD),
    (("--password-stdin",), patterns.PIPED_PASSWORD),
)


def prose_secrets(text: str) -> Iterator[Finding]:
    """Prose such as "my password is X": the value must look chosen (letters with digits or
    symbols) or, for tokens and keys, random; sentence punctuation after it is not part of it."""
    lowered = text.lower()
    if not any(word in lowered for word in _KEYWORD_STEMS):
        return
    for match in patterns.PROSE_SECRET.finditer(text):
        start, end = match.span("bare")
        value = text[start:end]
        while value and value[-1] in ".,;)":
            value = value[:-1]
        end = start + len(value)
        if _stands_for_a_value(value) or _looks_like_code(value):
            continue
        has_letter = any(char.isalpha() for char in value)
        has_other = any(not char.isalpha() for char in value)
        if patterns.PASSWORD_NAME.search(match["name"]):
            if len(value) >= 6 and has_letter and has_other:
                yield Finding(SECRET, start, end)
        elif _is_random(value, min_length=12):
            yield Finding(SECRET, start, end)


def _assigned_value(text: str, match: re.Match[str], *, in_url: bool = False) -> Iterator[Finding]:
    start, end = _value_span(match, "quoted", "bare")
    value = text[start:end]
    if match.groupdict().get("bare") is not None:
        if in_url:
            # A URL query parameter ends at the next '&'.
            value = value.split("&", 1)[0]
            end = start + len(value)
        if any(char in value for char in "([{") or _looks_like_code(value):
            return
    if _stands_for_a_value(value.strip()):
        return
    is_password = bool(patterns.PASSWORD_NAME.search(match["name"]))
    if _is_password(value) if is_password else _is_random(value, min_length=12):
        yield Finding(SECRET, start, end)


def _stands_for_a_value(value: str) -> bool:
    """Template syntax, a mask, or a name for the secret rather than the secret."""
    if patterns.PLACEHOLDER_VALUE.match(value):
        return True
    return bool(patterns.NAME_WORDS.match(value)) and any(
        word.lower() in patterns.SECRET_WORDS for word in patterns.NAME_WORD.findall(value)
    )


def _looks_like_code(value: str) -> bool:
    """A bare identifier or attribute access (`settings.SECRET_KEY`, `getAccessToken`): every
    part snake_case, UPPER_CASE or camelCase made of word-like humps. Random letters in mixed
    case (`eDoUvlTpDWIEKjUKk`) have humps of one or two letters and are a value."""
    if not patterns.CODE_REFERENCE.match(value):
        return False
    for part in value.split("."):
        letters = part.replace("_", "")
        if letters.islower() or letters.isupper() or not letters:
            continue
        humps = patterns.NAME_HUMP.findall(letters)
        if sum(map(len, humps)) / len(humps) < 3:
            return False
    return True


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
