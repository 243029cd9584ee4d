"""PatternScrubber: removes PII and secrets from text before anything is stored.

Pure, synchronous and offline. The input is NFKC-normalised and stripped of invisible characters
first, so full-width digits or a zero-width space cannot smuggle a value past the patterns; the
returned text and every finding's span refer to that normalised text."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable, Sequence

from adapters.privacy import scrub_phones, scrub_pii, scrub_secrets
from domain.privacy import Finding, ScrubResult

Detector = Callable[[str], Iterable[Finding]]

# Zero-width space/non-joiner/joiner, word joiner, BOM, soft hyphen, invisible operators and the
# Mongolian vowel separator: all render as nothing and split tokens.
INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff\u00ad\u2061\u2062\u2063\u2064\u180e"
_DELETE_INVISIBLE = str.maketrans("", "", INVISIBLE)

# Earlier detectors win overlaps: a password inside a URL must not also be read as an e-mail
# address, a card number as a phone number, an IBAN's digits as a card.
DEFAULT_DETECTORS: tuple[Detector, ...] = (
    scrub_secrets.pem_private_keys,
    scrub_secrets.url_passwords,
    scrub_secrets.cli_passwords,
    scrub_secrets.webhook_urls,
    scrub_secrets.vendor_tokens,
    scrub_secrets.auth_headers,
    scrub_secrets.secret_assignments,
    scrub_secrets.prose_secrets,
    scrub_pii.slack_markup,
    scrub_pii.emails,
    scrub_pii.crypto_wallets,
    scrub_pii.ibans,
    scrub_pii.cards,
    scrub_pii.ssns,
    scrub_pii.ip_addresses,
    scrub_phones.phone_numbers,
)


def normalise(text: str) -> str:
    """The text the scrubber matches against and returns (scrubbed)."""
    return unicodedata.normalize("NFKC", text.translate(_DELETE_INVISIBLE)).translate(
        _DELETE_INVISIBLE
    )


def placeholder(kind: str) -> str:
    return f"<{kind}>"


class PatternScrubber:
    """Implements the `domain.ports.Scrubber` protocol with validated patterns."""

    def __init__(self, detectors: Sequence[Detector] = DEFAULT_DETECTORS) -> None:
        self._detectors = tuple(detectors)

    def scrub(self, text: str) -> ScrubResult:
        normalised = normalise(text)
        findings = self._find(normalised)
        return ScrubResult(text=_replace(normalised, findings), findings=findings)

    def _find(self, text: str) -> tuple[Finding, ...]:
        accepted: list[Finding] = []
        for detect in self._detectors:
            for finding in detect(text):
                if finding.start < finding.end and not any(
                    finding.start < other.end and other.start < finding.end for other in accepted
                ):
                    accepted.append(finding)
        return tuple(sorted(accepted, key=lambda finding: finding.start))


def _replace(text: str, findings: Sequence[Finding]) -> str:
    parts: list[str] = []
    cursor = 0
    for finding in findings:
        parts.append(text[cursor : finding.start])
        parts.append(placeholder(finding.kind))
        cursor = finding.end
    parts.append(text[cursor:])
    return "".join(parts)
