"""`buddy bench scrubber`: recall per kind and benign-unchanged on the labelled corpora, for the
scrubber Buddy ships and for two outside detectors run alone on the same lines.

Corpora (JSON lines with `text`, `expect` and, for the outside one, `split`):
- `tests/adapter/scrub_corpus.jsonl`: our own developer-chat corpus (the rules were tuned on it);
- `tests/adapter/scrub_outside_cases.jsonl`: cases modelled on other projects' detector tests, in a
  dev half (tuned on) and a held-out test half (not tuned on).

Systems:
- `shipped`: `PatternScrubber()` as `bot.bootstrap` builds it;
- `presidio`: presidio-analyzer's pattern recognizers constructed directly (no NLP engine, no
  spaCy model), findings of any score kept, as `AnalyzerEngine` does by default;
- `detect-secrets`: its default plugins and filters over each line, as `detect-secrets scan` runs
  them (the keyword plugin with its config-file rules, since chat has no file type);
- `union`: all three together, what shipping the libraries next to our patterns would give.

Recall counts expected findings per line and kind with multiplicity; a line that expects nothing
is unchanged when the system finds nothing in it. Cost is the mean CPU time per line (the CPU
time of this process, so other load on the machine does not count), after one warm-up call."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from domain.privacy import KINDS

TESTS = Path(__file__).resolve().parents[2] / "tests" / "adapter"
CORPORA = {"ours": TESTS / "scrub_corpus.jsonl", "outside": TESTS / "scrub_outside_cases.jsonl"}
WARM_UP = "mail a@example.com, call +1 202-555-0143, card 4111 1111 1111 1111, password=Xy7!pq9z"
TARGET_RECALL = 0.98
TARGET_BENIGN_UNCHANGED = 0.98

Span = tuple[str, int, int]  # kind, start, end
Finder = Callable[[str], Sequence[Span]]
# The kinds each outside library looks for; the others are left out of its figures.
PRESIDIO_KINDS = {
    "CREDIT_CARD": "CARD", "CRYPTO": "CRYPTO", "EMAIL_ADDRESS": "EMAIL", "IBAN_CODE": "IBAN",
    "IP_ADDRESS": "IP", "PHONE_NUMBER": "PHONE", "US_SSN": "SSN",
}  # fmt: skip
DETECT_SECRETS_KINDS = ("SECRET",)


@dataclass(frozen=True)
class Case:
    text: str
    expect: tuple[str, ...]
    split: str = "all"


@dataclass(frozen=True)
class Figures:
    expected: dict[str, int]
    found: dict[str, int]
    benign: int
    benign_unchanged: int
    seconds: float
    lines: int
    misses: tuple[str, ...]
    mangled: tuple[str, ...]

    def recall(self, kind: str) -> float | None:
        return self.found[kind] / self.expected[kind] if self.expected.get(kind) else None

    @property
    def benign_unchanged_rate(self) -> float:
        return self.benign_unchanged / self.benign if self.benign else 1.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "recall": {
                kind: {
                    "recall": round(self.found[kind] / count, 4),
                    "found": self.found[kind],
                    "expected": count,
                }
                for kind, count in self.expected.items()
            },
            "benign_unchanged": round(self.benign_unchanged_rate, 4),
            "benign": self.benign,
            "us_per_line": round(self.seconds / self.lines * 1e6, 1),
        }


def load_cases(path: Path) -> list[Case]:
    cases = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(raw)
        cases.append(Case(row["text"], tuple(row["expect"]), row.get("split", "all")))
    return cases


def measure(
    find: Finder,
    cases: Iterable[Case],
    unchanged: Callable[[str], bool] | None = None,
    kinds: Sequence[str] = KINDS,
) -> Figures:
    """Recall for the expected findings of `kinds` (those a system looks for). `unchanged(text)`
    decides benign lines when given (the shipped scrubber compares its output text); otherwise a
    benign line is unchanged when nothing is found in it."""
    expected: Counter[str] = Counter()
    found: Counter[str] = Counter()
    benign = kept = lines = 0
    seconds = 0.0
    misses: list[str] = []
    mangled: list[str] = []
    for case in cases:
        started = time.process_time()
        spans = find(case.text)
        seconds += time.process_time() - started
        lines += 1
        if case.expect:
            wanted = Counter(kind for kind in case.expect if kind in kinds)
            got = Counter(kind for kind, _, _ in spans)
            for kind, count in wanted.items():
                expected[kind] += count
                found[kind] += min(count, got[kind])
            if any(got[kind] < count for kind, count in wanted.items()):
                misses.append(f"{case.text!r} -> {_show(case.text, spans)}")
        else:
            benign += 1
            if unchanged(case.text) if unchanged else not spans:
                kept += 1
            else:
                mangled.append(f"{case.text!r} -> {_show(case.text, spans)}")
    ordered = {kind: expected[kind] for kind in KINDS if expected[kind]}
    return Figures(
        ordered, {kind: found[kind] for kind in ordered}, benign, kept, seconds, lines,
        tuple(misses), tuple(mangled),
    )  # fmt: skip


def _show(text: str, spans: Sequence[Span]) -> str:
    return ", ".join(f"{kind}:{text[start:end]!r}" for kind, start, end in spans) or "nothing"


def merge(spans: Iterable[Span]) -> list[Span]:
    """One finding per overlapping group of the same kind (libraries report a value several
    times: per pattern, per plugin, or a token and its prefix)."""
    merged: list[Span] = []
    for kind, start, end in sorted(spans, key=lambda span: (span[0], span[1], -span[2])):
        if merged and merged[-1][0] == kind and start < merged[-1][2]:
            last = merged[-1]
            merged[-1] = (kind, last[1], max(last[2], end))
        else:
            merged.append((kind, start, end))
    return sorted(merged, key=lambda span: span[1])


# --- the systems ---------------------------------------------------------------------------


def shipped_finder() -> tuple[Finder, Callable[[str], bool]]:
    from adapters.privacy.scrubber import PatternScrubber, normalise

    scrubber = PatternScrubber()

    def find(text: str) -> list[Span]:
        return [(f.kind, f.start, f.end) for f in scrubber.scrub(text).findings]

    def unchanged(text: str) -> bool:
        return scrubber.scrub(text).text == normalise(text)

    return find, unchanged


def presidio_finder() -> Finder:
    """presidio-analyzer's recognizers for our kinds, without `AnalyzerEngine` (which would load
    a spaCy model). Its e-mail recognizer validates domains with tldextract, which fetches the
    public suffix list on first use: here it reads the copy bundled with tldextract instead."""
    import tldextract
    from presidio_analyzer.predefined_recognizers import (
        CreditCardRecognizer,
        CryptoRecognizer,
        EmailRecognizer,
        IbanRecognizer,
        IpRecognizer,
        PhoneRecognizer,
        UsSsnRecognizer,
    )

    offline = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)

    def offline_domain(pattern_text: str) -> bool:
        return bool(offline(pattern_text).fqdn)

    # presidio's own check fetches the public suffix list over the network: checked offline.
    # Set on the instance, not by subclassing: this must type-check with and without presidio
    # installed (it is an optional extra, missing on a default install).
    email = EmailRecognizer()
    setattr(email, "validate_result", offline_domain)  # noqa: B010
    recognizers = [
        CreditCardRecognizer(), CryptoRecognizer(), email, IbanRecognizer(),
        IpRecognizer(), PhoneRecognizer(), UsSsnRecognizer(),
    ]  # fmt: skip

    def find(text: str) -> list[Span]:
        spans: list[Span] = []
        for recognizer in recognizers:
            no_nlp: Any = None  # pattern recognizers need no NLP artifacts
            for result in recognizer.analyze(text, recognizer.supported_entities, no_nlp):
                kind = PRESIDIO_KINDS.get(result.entity_type)
                if kind and result.score > 0:
                    spans.append((kind, result.start, result.end))
        return merge(spans)

    return find


def detect_secrets_finder() -> Finder:
    """detect-secrets' default plugins and filters, line by line, as its scanner applies them.
    It reports values, not spans: each value is located in its line."""
    from detect_secrets.core import scan
    from detect_secrets.settings import default_settings

    def find(text: str) -> list[Span]:
        spans: list[Span] = []
        offset = 0
        with default_settings():
            for line in text.split("\n"):
                found = scan._process_line_based_plugins([(1, line)], filename="message.yaml")
                for secret in found:
                    value = secret.secret_value or ""
                    start = line.find(value) if value else -1
                    if start >= 0 and not secret.type.startswith("Public IP"):
                        spans.append(("SECRET", offset + start, offset + start + len(value)))
                offset += len(line) + 1
        return merge(spans)

    return find


@dataclass(frozen=True)
class System:
    find: Finder
    unchanged: Callable[[str], bool] | None
    kinds: Sequence[str]


def systems() -> dict[str, System | str]:
    """Each system, or why it is not measured (a library not installed)."""
    found: dict[str, System | str] = {"shipped": System(*shipped_finder(), KINDS)}
    outside = (
        ("presidio", presidio_finder, tuple(PRESIDIO_KINDS.values())),
        ("detect-secrets", detect_secrets_finder, DETECT_SECRETS_KINDS),
    )
    for name, make, kinds in outside:
        try:
            found[name] = System(make(), None, kinds)
        except ImportError as error:
            found[name] = (
                f"not installed ({error.name}); pip install presidio-analyzer detect-secrets"
            )
    parts = [system for system in found.values() if isinstance(system, System)]
    for part in parts:
        part.find(WARM_UP)  # imports, compiled patterns, phone metadata
    if len(parts) > 1:
        found["union"] = _union(parts)
    return found


def _union(parts: Sequence[System]) -> System:
    """What shipping the libraries next to our patterns would give: every system's findings, a
    benign line kept only if all of them keep it."""

    def find(text: str) -> list[Span]:
        return merge(span for part in parts for span in part.find(text) if span[0] in part.kinds)

    def unchanged(text: str) -> bool:
        return all(
            part.unchanged(text) if part.unchanged else not part.find(text) for part in parts
        )

    return System(find, unchanged, KINDS)


def bench_scrubber(corpora: dict[str, Path] = CORPORA) -> dict[str, Any]:
    measured = systems()
    result: dict[str, Any] = {
        "skipped": {name: why for name, why in measured.items() if isinstance(why, str)},
        "corpora": {},
    }
    for corpus, path in corpora.items():
        if not path.exists():
            result["skipped"][corpus] = f"{path} not found (a source checkout has it)"
            continue
        cases = load_cases(path)
        splits = sorted({case.split for case in cases})
        result["corpora"][corpus] = {
            split: {
                name: measure(
                    system.find,
                    [c for c in cases if c.split == split],
                    system.unchanged,
                    system.kinds,
                ).as_dict()
                for name, system in measured.items()
                if isinstance(system, System)
            }
            for split in splits
        }
    result["targets"] = {"recall": TARGET_RECALL, "benign_unchanged": TARGET_BENIGN_UNCHANGED}
    return result


def print_scrubber(result: dict[str, Any]) -> None:
    for corpus, splits in result["corpora"].items():
        for split, by_system in splits.items():
            names = list(by_system)
            print(f"scrubber: {corpus} corpus, {split}")
            print(f"  {'':<16}" + "".join(f"{name:>16}" for name in names))
            kinds = [k for k in KINDS if any(k in by_system[n]["recall"] for n in names)]
            for kind in kinds:
                cells = []
                for name in names:
                    row = by_system[name]["recall"].get(kind)
                    cells.append(
                        f"{row['recall']:.3f} {row['found']:>3}/{row['expected']:<3}"
                        if row
                        else "-"
                    )
                print(f"  {kind + ' recall':<16}" + "".join(f"{cell:>16}" for cell in cells))
            print(
                f"  {'benign kept':<16}"
                + "".join(
                    f"{by_system[n]['benign_unchanged']:.3f} of {by_system[n]['benign']:<3}".rjust(
                        16
                    )
                    for n in names
                )
            )
            print(
                f"  {'us per line':<16}"
                + "".join(f"{by_system[n]['us_per_line']:>16.1f}" for n in names)
            )
    for name, why in result.get("skipped", {}).items():
        print(f"scrubber: {name} skipped: {why}")
