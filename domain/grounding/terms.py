"""Words of questions and passages reduced to comparable terms, and how rare each term is."""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

# Identifiers, flags, dotted names, numbers with units: `dev_addr`, `--strict`, `2.14.0`, `90`.
_TOKEN = re.compile(r"[A-Za-z0-9_]+(?:[.\-:/][A-Za-z0-9_]+)*")
_SPLIT_IDENTIFIER = re.compile(r"[_.\-:/]+|(?<=[a-z])(?=[A-Z])")
_STOPWORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "all",
        "also",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "don",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "get",
        "got",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "him",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "let",
        "like",
        "me",
        "more",
        "most",
        "my",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "use",
        "used",
        "using",
        "very",
        "via",
        "was",
        "way",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "want",
        "need",
        "needs",
        "know",
        "tell",
        "anyone",
        "someone",
        "thing",
        "things",
        "there's",
        "what's",
        "it's",
        "i'm",
        "can't",
        "don't",
        "doesn't",
        "isn't",
        "hey",
        "hi",
        "please",
        "thanks",
        "ok",
        "okay",
        "possible",
        "able",
        "make",
        "makes",
        "made",
        "work",
        "works",
        "working",
    ]
)


def _stem(word: str) -> str:
    """A light suffix strip: enough to match deploy/deploys/deployed/deploying."""
    for suffix, minimum in (("ing", 5), ("ies", 5), ("ed", 4), ("es", 5), ("s", 4)):
        if word.endswith(suffix) and len(word) - len(suffix) >= minimum - len(suffix) + 1:
            stem = word[: -len(suffix)]
            if suffix == "ies":
                return stem + "y"
            if suffix == "s" and word.endswith("ss"):
                return word
            return stem
    return word


def tokens(text: str) -> list[str]:
    """Raw tokens in order, lower-cased: whole identifiers, flags and numbers."""
    return [token.lower() for token in _TOKEN.findall(text)]


def terms(text: str) -> set[str]:
    """Content terms: whole tokens and their identifier parts, stemmed, without stopwords."""
    found: set[str] = set()
    for token in _TOKEN.findall(text):
        lowered = token.lower()
        if lowered not in _STOPWORDS and (len(lowered) > 1 or lowered.isdigit()):
            found.add(_stem(lowered))
        parts = [part for part in _SPLIT_IDENTIFIER.split(token) if part]
        if len(parts) > 1:
            for part in parts:
                lowered = part.lower()
                if lowered not in _STOPWORDS and len(lowered) > 2:
                    found.add(_stem(lowered))
    return found


def content_words(text: str) -> list[str]:
    """The text's words as written, without stopwords, each once."""
    seen: dict[str, None] = {}
    for token in _TOKEN.findall(text):
        if token.lower() not in _STOPWORDS and (len(token) > 1 or token.isdigit()):
            seen.setdefault(token, None)
    return list(seen)


Wanted = tuple[str, ...]  # a term and the spellings that count as it ("roll" or "rollback")


def question_terms(question: str) -> list[Wanted]:
    """The words a question is about, in order, without stopwords. Two adjacent words also
    match as one ("roll back" finds "rollback", "set up" finds "setup")."""
    words = [token.lower() for token in _TOKEN.findall(question)]
    wanted: dict[str, set[str]] = {}
    for index, word in enumerate(words):
        if word in _STOPWORDS or (len(word) < 2 and not word.isdigit()):
            continue
        spellings = wanted.setdefault(_stem(word), set())
        for pair in (words[index - 1 : index + 1], words[index : index + 2]):
            if len(pair) == 2 and _STOPWORDS.isdisjoint(pair) and "".join(pair).isalpha():
                spellings.add(_stem("".join(pair)))
    return [(term, *sorted(spellings - {term})) for term, spellings in wanted.items()]


@dataclass(frozen=True)
class TermStats:
    """How many chunks the index holds, and in how many of them each asked term occurs."""

    chunks: int
    frequencies: Mapping[str, int]

    def idf(self, term: str) -> float:
        # A word the index never saw weighs like the rarest one it did: it may be a synonym.
        found = max(self.frequencies.get(term, 0), 1)
        return max(math.log((self.chunks + 1) / (found + 0.5)), 0.05)


def weighted_coverage(wanted: Iterable[Wanted], present: set[str], stats: TermStats) -> float:
    """The share of the wanted terms' weight (rarer terms weigh more) found among `present`."""
    total = found = 0.0
    ordered: list[str] | None = None
    for spellings in wanted:
        weight = stats.idf(spellings[0])
        total += weight
        if any(spelling in present for spelling in spellings):
            found += weight
            continue
        ordered = sorted(present) if ordered is None else ordered
        if _prefix_of_any(spellings[0], ordered):
            found += weight
    return found / total if total else 0.0


def _prefix_of_any(term: str, ordered: list[str]) -> bool:
    """Chat shortens words ("prod", "config", "repo"); a term of 4+ letters that starts a
    passage word counts as that word."""
    if len(term) < 4 or not term.isalpha():
        return False
    at = bisect.bisect_left(ordered, term)
    return at < len(ordered) and ordered[at].startswith(term)
