"""PatternScrubber over a labelled corpus of developer chat, code and logs (scrub_corpus.jsonl).

Recall: of every expected finding (per line, per expected kind, counted with multiplicity), the
fraction the scrubber found. Benign-unchanged: of the lines that expect nothing, the fraction
returned byte-identical to their normalised form. Run with `-s` to see the printed figures."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from adapters.privacy.scrubber import PatternScrubber, normalise
from domain.privacy import KINDS

CORPUS = Path(__file__).with_name("scrub_corpus.jsonl")
MIN_RECALL = 0.98
MIN_BENIGN_UNCHANGED = 0.98


@dataclass(frozen=True)
class Line:
    text: str
    expect: tuple[str, ...]


@dataclass(frozen=True)
class Figures:
    expected: int
    found: int
    benign: int
    benign_unchanged: int
    misses: tuple[str, ...]
    mangled: tuple[str, ...]

    @property
    def recall(self) -> float:
        return self.found / self.expected

    @property
    def benign_unchanged_rate(self) -> float:
        return self.benign_unchanged / self.benign

    def summary(self) -> str:
        return (
            f"recall {self.recall:.4f} ({self.found}/{self.expected}), "
            f"benign unchanged {self.benign_unchanged_rate:.4f} "
            f"({self.benign_unchanged}/{self.benign})"
        )


def load_corpus() -> list[Line]:
    lines = []
    for raw in CORPUS.read_text(encoding="utf-8").splitlines():
        row = json.loads(raw)
        lines.append(Line(text=row["text"], expect=tuple(row["expect"])))
    return lines


def measure(lines: list[Line]) -> Figures:
    scrubber = PatternScrubber()
    expected = found = benign = unchanged = 0
    misses: list[str] = []
    mangled: list[str] = []
    for line in lines:
        result = scrubber.scrub(line.text)
        if line.expect:
            wanted = Counter(line.expect)
            got = Counter(finding.kind for finding in result.findings)
            hits = sum(min(count, got[kind]) for kind, count in wanted.items())
            expected += sum(wanted.values())
            found += hits
            if hits < sum(wanted.values()):
                misses.append(f"{line.text!r} -> {result.text!r}")
        else:
            benign += 1
            if result.text == normalise(line.text):
                unchanged += 1
            else:
                mangled.append(f"{line.text!r} -> {result.text!r}")
    return Figures(expected, found, benign, unchanged, tuple(misses), tuple(mangled))


@pytest.fixture(scope="module")
def corpus() -> list[Line]:
    return load_corpus()


def test_corpus_is_large_mixed_and_well_labelled(corpus: list[Line]) -> None:
    assert len(corpus) >= 300
    with_findings = sum(1 for line in corpus if line.expect)
    assert 0.3 <= with_findings / len(corpus) <= 0.5
    assert {kind for line in corpus for kind in line.expect} == set(KINDS)
    assert len({line.text for line in corpus}) == len(corpus), "duplicate corpus lines"


def test_recall_and_benign_unchanged_rate(corpus: list[Line]) -> None:
    figures = measure(corpus)
    print(f"\nscrub corpus: {figures.summary()}")
    for miss in figures.misses:
        print(f"  missed: {miss}")
    for line in figures.mangled:
        print(f"  mangled: {line}")
    message = f"{figures.summary()}; missed {figures.misses}; mangled {figures.mangled}"
    assert figures.recall >= MIN_RECALL, message
    assert figures.benign_unchanged_rate >= MIN_BENIGN_UNCHANGED, message
