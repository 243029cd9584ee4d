"""Check digits and plausibility tests that turn regex candidates into findings."""

from __future__ import annotations

import hashlib
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
    """Whether the prefix and length belong to a card network (ISO/IEC 7812 issuer ranges).

    Cuts the false positives of Luhn alone (one random number in ten passes it): 13-digit Visa
    numbers are left out because they are obsolete and collide with EAN-13 barcodes, and no
    network starts with 0, 7 or 9 (bar Troy's 9792) or with 1 unless it is a 15-digit UATP."""
    length = len(digits)
    two, three, four = int(digits[:2]), int(digits[:3]), int(digits[:4])
    if digits[0] == "1":
        return length == 15  # UATP
    if digits[0] == "4":
        return length in (16, 19)  # Visa, Visa Electron, Visa/Dankort, Elo's 4xxx ranges
    if 51 <= two <= 55:
        return length == 16  # Mastercard
    if 2221 <= four <= 2720:
        return length == 16  # Mastercard 2-series
    if 2200 <= four <= 2204:
        return 16 <= length <= 19  # Mir
    if two in (34, 37):
        return length == 15  # American Express
    if 300 <= three <= 305 or four == 3095 or two in (36, 38, 39):
        return 14 <= length <= 19  # Diners Club
    if 3528 <= four <= 3589 or three in (353, 356):
        return 16 <= length <= 19  # JCB, RuPay's JCB co-brands
    if two == 50 or 56 <= two <= 69:
        # Maestro (50, 56-69), Dankort, Verve, Elo, RuPay, Discover, UnionPay, Hipercard, Laser,
        # InstaPayment, InterPayment: 12 to 19 digits.
        return 12 <= length <= 19
    if two in (81, 82):
        return 16 <= length <= 19  # UnionPay's and RuPay's 8-series
    if four == 9792:
        return length == 16  # Troy
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


# --- crypto wallet addresses ---------------------------------------------------------------

BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
BECH32_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_BECH32_GENERATOR = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
_BECH32M_CONSTANT = 0x2BC830A3


def base58check_valid(address: str) -> bool:
    """A Bitcoin legacy (P2PKH, version 0) or script (P2SH, version 5) address: 25 bytes whose
    last four are the double-SHA-256 checksum of the first 21."""
    number = 0
    for char in address:
        index = BASE58.find(char)
        if index < 0:
            return False
        number = number * 58 + index
    leading_zeros = len(address) - len(address.lstrip("1"))
    body = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    raw = b"\0" * leading_zeros + body
    if len(raw) != 25 or raw[0] not in (0, 5):
        return False
    return hashlib.sha256(hashlib.sha256(raw[:21]).digest()).digest()[:4] == raw[21:]


def segwit_valid(address: str, hrp: str = "bc") -> bool:
    """BIP 173/350: a segwit address, bech32 for witness version 0 and bech32m above, with a
    witness program of the length its version allows."""
    if address.lower() != address and address.upper() != address:
        return False
    address = address.lower()
    separator = address.rfind("1")
    if address[:separator] != hrp or not 14 <= len(address) <= 90:
        return False
    data = [BECH32_CHARSET.find(char) for char in address[separator + 1 :]]
    if len(data) < 7 or -1 in data:
        return False
    checksum = _bech32_polymod([ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp] + data)
    version = data[0]
    if checksum != (1 if version == 0 else _BECH32M_CONSTANT) or version > 16:
        return False
    program_bits = (len(data) - 7) * 5
    program_bytes = program_bits // 8
    if program_bits % 8 >= 5 or not 2 <= program_bytes <= 40:
        return False
    return version != 0 or program_bytes in (20, 32)


def _bech32_polymod(values: list[int]) -> int:
    checksum = 1
    for value in values:
        top = checksum >> 25
        checksum = (checksum & 0x1FFFFFF) << 5 ^ value
        for bit, generator in enumerate(_BECH32_GENERATOR):
            if (top >> bit) & 1:
                checksum ^= generator
    return checksum
