"""Phone numbers through libphonenumber (the `phonenumbers` port): offline metadata for every
region, so a number is only a finding if it is valid somewhere, not merely digit-shaped."""

from __future__ import annotations

import re
from collections.abc import Iterator

import phonenumbers
from phonenumbers import Leniency, PhoneNumberMatcher

from adapters.privacy import patterns
from domain.privacy import Finding

# National formats are read as numbers of these regions; "+" numbers parse on their own.
DEFAULT_REGIONS = ("US", "GB", "DE", "FR", "IN")

_SEPARATORS = frozenset(" \t-./()")
# Characters that glue a digit run to a larger token: an invoice id (INV-2026-000417), a
# fractional second (07:08:41.123456), a path or a version.
_GLUE_BEFORE = frozenset("-._/#")
_GLUE_AFTER = frozenset("-_/")
# A decimal number (1234.567890) or a dotted quad (255.255.255.0).
_NOT_A_PHONE = re.compile(r"^\d+\.\d+$|^\d{1,3}(?:\.\d{1,3}){3}$")


def phone_numbers(text: str, regions: tuple[str, ...] = DEFAULT_REGIONS) -> Iterator[Finding]:
    if not patterns.PHONE_GATE.search(text):
        return
    seen: set[tuple[int, int]] = set()
    for region in regions:
        for match in PhoneNumberMatcher(text, region, leniency=Leniency.VALID):
            span = (match.start, match.end)
            if (
                span not in seen
                and _plausible(text, match.start, match.raw_string)
                and (region != "IN" or _plausible_indian(match.raw_string))
            ):
                seen.add(span)
                yield Finding("PHONE", *span)
    # Valid-looking but unallocated international numbers (Ofcom's drama ranges, typos) are
    # still someone's attempt at a phone number: accept any "+" number of a possible length.
    for candidate in patterns.INTERNATIONAL_PHONE.finditer(text):
        span = candidate.span()
        if span in seen:
            continue
        try:
            number = phonenumbers.parse(candidate.group(), None)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_possible_number(number):
            seen.add(span)
            yield Finding("PHONE", *span)
    yield from _numbers_after_a_phone_word(text, seen)


def _numbers_after_a_phone_word(text: str, seen: set[tuple[int, int]]) -> Iterator[Finding]:
    """A national number of any other region ("Tokyo desk, call 03-1234-5678"): only after a word
    that says it is a phone number, and only if it is valid in some region."""
    for match in patterns.PHONE_CANDIDATE.finditer(text):
        start, end = match.span()
        if any(start < other_end and other_start < end for other_start, other_end in seen):
            continue
        if not patterns.PHONE_STRONG_CONTEXT.search(text, max(0, start - 48), start):
            continue
        raw = match.group()
        if not _plausible(text, start, raw) or sum(char.isdigit() for char in raw) < 7:
            continue
        if any(_valid_in(raw, region) for region in _OTHER_REGIONS):
            seen.add((start, end))
            yield Finding("PHONE", start, end)


def _valid_in(raw: str, region: str) -> bool:
    try:
        return phonenumbers.is_valid_number(phonenumbers.parse(raw, region))
    except phonenumbers.NumberParseException:
        return False


_OTHER_REGIONS = tuple(sorted(phonenumbers.SUPPORTED_REGIONS - set(DEFAULT_REGIONS)))


def _plausible(text: str, start: int, raw: str) -> bool:
    """Rejects digit runs that belong to something else. National numbers written as one bare
    run of digits are usually ids, counters or epoch seconds: take them only after a word such as
    "phone" or "call"."""
    end = start + len(raw)
    before = text[start - 1] if start else " "
    after = text[end : end + 2]
    if before.isalnum() or before in _GLUE_BEFORE:
        return False
    if after[:1].isalnum() or after[:1] in _GLUE_AFTER or re.match(r"[.:,]\d", after):
        return False
    if "\n" in raw or "[" in raw or re.search(r"\s\s", raw) or _NOT_A_PHONE.match(raw):
        return False
    if len(re.findall(r"(?<!\d)\d(?!\d)", raw)) >= 3:
        return False  # a list of small numbers (1 2 3 4 5 6 7 8 9 10), not a phone number
    if raw.startswith(("+", "00")) or any(char in _SEPARATORS for char in raw):
        return True
    return bool(patterns.PHONE_CONTEXT.search(text, max(0, start - 30), start))


def _plausible_indian(raw: str) -> bool:
    """Indian landlines are written with their trunk 0; without it the Indian plan accepts almost
    any ten digits (12 34 56 78 90), so only mobiles (6-9, ten digits) may drop the 0."""
    if raw.startswith(("+", "00")):
        return True
    digits = "".join(char for char in raw if char.isdigit())
    return digits.startswith("0") or (len(digits) == 10 and digits[0] in "6789")
