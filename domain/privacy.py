"""Privacy value objects: what the scrubber finds and what it hands back."""

from __future__ import annotations

from dataclasses import dataclass

# Placeholder kinds; the scrubbed text carries them as "<EMAIL>", "<SECRET>", ...
KINDS = ("EMAIL", "PHONE", "IP", "CARD", "IBAN", "SSN", "CRYPTO", "SECRET")


@dataclass(frozen=True)
class Finding:
    """One thing removed: its kind and its span in the normalised input (never its value)."""

    kind: str
    start: int
    end: int


@dataclass(frozen=True)
class ScrubResult:
    text: str
    findings: tuple[Finding, ...] = ()

    @property
    def clean(self) -> bool:
        return not self.findings
