"""Personal-data detectors: e-mail, IBAN, payment card, US SSN, IP and crypto wallet addresses."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

from adapters.privacy import patterns
from adapters.privacy.checksums import (
    IBAN_LENGTHS,
    base58check_valid,
    card_network_matches,
    iban_valid,
    luhn_valid,
    segwit_valid,
    ssn_valid,
)
from domain.privacy import Finding


def slack_markup(text: str) -> Iterator[Finding]:
    """Slack wraps addresses as <mailto:a@b.com|a@b.com>: the whole markup goes."""
    if "<" not in text:
        return
    for match in patterns.SLACK_MAILTO.finditer(text):
        yield Finding("EMAIL", *match.span())
    for match in patterns.SLACK_TEL.finditer(text):
        yield Finding("PHONE", *match.span())


def emails(text: str) -> Iterator[Finding]:
    if "@" not in text:
        return
    for match in patterns.EMAIL.finditer(text):
        start, end = match.span()
        if text[max(0, start - 3) : start] == "://":
            continue  # userinfo of a URL, not a mailbox
        if text.startswith("git@", start) and text[end : end + 1] == ":":
            continue  # SSH remote: git@github.com:org/repo.git
        yield Finding("EMAIL", start, end)


def ibans(text: str) -> Iterator[Finding]:
    for match in patterns.IBAN_CANDIDATE.finditer(text):
        candidate = match.group()
        expected = IBAN_LENGTHS.get(candidate[:2].upper())
        if expected is None:
            continue
        # The loose pattern may run into the next word: cut at the registered length.
        seen = 0
        for index, char in enumerate(candidate):
            seen += char not in _IBAN_SEPARATORS
            if seen == expected:
                cut = index + 1
                break
        else:
            continue
        if cut < len(candidate) and candidate[cut] not in _IBAN_SEPARATORS:
            continue
        value = candidate[:cut]
        letters = "".join(char for char in value if char.isalpha())
        if not (letters.isupper() or letters.islower()):
            continue  # "De12..." is a word, not an IBAN written in one case
        if iban_valid(value.replace(" ", "").replace("-", "").upper()):
            yield Finding("IBAN", match.start(), match.start() + cut)


_IBAN_SEPARATORS = frozenset(" -")


def cards(text: str) -> Iterator[Finding]:
    for match in patterns.CARD_CANDIDATE.finditer(text):
        digits = "".join(char for char in match.group() if char.isdigit())
        if not (12 <= len(digits) <= 19 and card_network_matches(digits) and luhn_valid(digits)):
            continue
        if (
            len(digits) in _ID_LIKE_LENGTHS
            and digits == match.group()
            and not patterns.CARD_CONTEXT.search(text, max(0, match.start() - 40), match.start())
        ):
            continue  # an unseparated run of an id's length, with no word saying it is a card
        yield Finding("CARD", *match.span())


# 12 (AWS accounts), 13 (epoch milliseconds, EAN-13), 17 and 18 (snowflake ids) digits.
_ID_LIKE_LENGTHS = frozenset((12, 13, 17, 18))


def crypto_wallets(text: str) -> Iterator[Finding]:
    """Bitcoin addresses with a valid checksum (base58check, bech32/bech32m) and Ethereum-style
    `0x` + 40 hex addresses (their mixed-case checksum needs Keccak, which hashlib lacks)."""
    for match in patterns.BITCOIN_BASE58.finditer(text):
        if base58check_valid(match.group()):
            yield Finding("CRYPTO", *match.span())
    if "bc1" in text or "BC1" in text:
        for match in patterns.BITCOIN_SEGWIT.finditer(text):
            if segwit_valid(match.group()):
                yield Finding("CRYPTO", *match.span())
    if "0x" in text:
        for match in patterns.ETHEREUM_ADDRESS.finditer(text):
            yield Finding("CRYPTO", *match.span())


def ssns(text: str) -> Iterator[Finding]:
    for match in patterns.SSN_DASHED.finditer(text):
        if ssn_valid(match["area"], match["group"], match["serial"]):
            yield Finding("SSN", *match.span())
    for match in patterns.SSN_AFTER_KEYWORD.finditer(text):
        if ssn_valid(match["area"], match["group"], match["serial"]):
            yield Finding("SSN", *match.span("value"))


def ip_addresses(text: str) -> Iterator[Finding]:
    """Addresses validated by `ipaddress`. Loopback, unspecified and netmasks identify no one
    and fill developer logs (127.0.0.1:8000, 0.0.0.0/0, 255.255.255.0), so they stay."""
    if ":" in text:
        for match in patterns.IPV6_CANDIDATE.finditer(text):
            candidate = match.group()
            if sum(1 for group in candidate.split(":") if group) < 2:
                continue
            try:
                address = ipaddress.IPv6Address(candidate)
            except ValueError:
                continue
            if not (address.is_loopback or address.is_unspecified):
                yield Finding("IP", *match.span())
    for match in patterns.IPV4_CANDIDATE.finditer(text):
        try:
            address4 = ipaddress.IPv4Address(match.group())
        except ValueError:
            continue
        if address4.is_loopback or address4.is_unspecified or match.group().startswith("255."):
            continue
        if patterns.VERSION_CONTEXT.search(text, max(0, match.start() - 12), match.start()):
            continue
        yield Finding("IP", *match.span())
