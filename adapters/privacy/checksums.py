"""Check digits and plausibility tests that turn regex candidates into findings."""

from __future__ import annotations

import math
from collections import Counter

# ISO 13616 registry: the full IBAN length per country code.
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27,
    "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27,
    "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22,
    "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32,
    "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19,
    "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23, "PK": 24,
    "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24, "SC": 31,
    "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28, "TL": 23,
    "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}  # fmt: skip


def luhn_valid(digits: str) -> bool:
    """The Luhn mod-10 check used by payment card numbers."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def card_network_matches(digits: str) -> bool:
    """Whether the prefix and length belong to a major card network.

    Cuts the false positives of Luhn alone (one random number in ten passes it): 13-digit Visa
    numbers are left out because they are obsolete and collide with EAN-13 barcodes."""
    length = len(digits)
    two, three, four = int(digits[:2]), int(digits[:3]), int(digits[:4])
    if digits[0] == "4":
        return length in (16, 19)  # Visa
    if 51 <= two <= 55 or 2221 <= four <= 2720:
        return length == 16  # Mastercard
    if two in (34, 37):
        return length == 15  # American Express
    if four == 6011 or 644 <= three <= 649 or two == 65:
        return 16 <= length <= 19  # Discover
    if 300 <= three <= 305 or two in (36, 38, 39):
        return 14 <= length <= 19  # Diners Club
    if 3528 <= four <= 3589:
        return 16 <= length <= 19  # JCB
    if two == 62:
        return 16 <= length <= 19  # UnionPay
    return False


def iban_valid(compact: str) -> bool:
    """ISO 13616: the registered length for the country and the mod-97 check equal to 1."""
    expected = IBAN_LENGTHS.get(compact[:2])
    if expected is None or len(compact) != expected or not compact.isalnum():
        return False
    rearranged = compact[4:] + compact[:4]
    number = "".join(str(int(char, 36)) for char in rearranged)
    return int(number) % 97 == 1


def ssn_valid(area: str, group: str, serial: str) -> bool:
    """US SSN structure: areas 000, 666 and 900-999, group 00 and serial 0000 are never issued."""
    area_number = int(area)
    return area_number not in (0, 666) and area_number < 900 and group != "00" and serial != "0000"


def shannon_entropy(value: str) -> float:
    """Bits per character; random keys score above 3, words and identifiers lower."""
    if not value:
        return 0.0
    counts = Counter(value)
    length = len(value)
    return -sum(n / length * math.log2(n / length) for n in counts.values())
