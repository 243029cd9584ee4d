"""Personal-data detectors: e-mail, IBAN, payment card, US SSN and IP addresses."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

from adapters.privacy import patterns
from adapters.privacy.checksums import (
    IBAN_LENGTHS,
    card_network_matches,
    iban_valid,
    luhn_valid,
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
        expected = IBAN_LENGTHS.get(candidate[:2])
        if expected is None:
            continue
        # The loose pattern may run into the next upper-case word: cut at the registered length.
        seen = 0
        for index, char in enumerate(candidate):
            seen += char != " "
            if seen == expected:
                cut = index + 1
                break
        else:
            continue
        if cut < len(candidate) and candidate[cut] != " ":
            continue
        if iban_valid(candidate[:cut].replace(" ", "")):
            yield Finding("IBAN", match.start(), match.start() + cut)


def cards(text: str) -> Iterator[Finding]:
    for match in patterns.CARD_CANDIDATE.finditer(text):
        digits = "".join(char for char in match.group() if char.isdigit())
        if 12 <= len(digits) <= 19 and card_network_matches(digits) and luhn_valid(digits):
            yield Finding("CARD", *match.span())


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
