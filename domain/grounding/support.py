"""Does an answer say only what its passages say? Sentence by sentence, by shared terms."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from domain.grounding.terms import terms, tokens

_CITATION = re.compile(r"\[\d+(?:\s*,\s*\d+)*\]")
_SENTENCE = re.compile(r"(?<=[.!?:])\s+|\n+")
_FENCED = re.compile(r"```.*?(?:```|$)", re.DOTALL)
# A sentence is supported when this share of its terms occurs in the passages; numbers and
# identifiers (anything with a digit, underscore or dash) must all occur.
SUPPORTED_SHARE = 0.75
# The prompt's scaffolding: its labels, or a passage header ("[5] docs/retry.py").
_PROMPT_ECHO = re.compile(
    r"^\s*(?:(?:passages?|question|answer|documentation)\s*:|\[\d+\]\s+\S+/\S+)", re.I | re.M
)
_UNSURE = re.compile(
    r"\b(?:i (?:do not|don't) know|not (?:mentioned|specified|stated)|no information|"
    r"cannot (?:find|answer)|can't (?:find|answer)|does not (?:say|mention))\b",
    re.I,
)


@dataclass(frozen=True)
class Support:
    """How an answer holds up against its passages."""

    sentences: int
    supported: int
    echo: bool  # it repeats the prompt's scaffolding or loops on itself
    unsure: bool  # it says it does not know

    @property
    def rate(self) -> float:
        return self.supported / self.sentences if self.sentences else 0.0


def answer_sentences(answer: str) -> list[str]:
    """Sentences of prose and whole code blocks, without citation marks."""
    pieces: list[str] = [block for block in _FENCED.findall(answer)]
    prose = _FENCED.sub("\n", answer)
    pieces.extend(piece for piece in _SENTENCE.split(_CITATION.sub("", prose)))
    return [piece.strip() for piece in pieces if terms(piece)]


def sentence_supported(sentence: str, evidence_terms: set[str], evidence_tokens: set[str]) -> bool:
    wanted = terms(sentence)
    if not wanted:
        return True
    exact = {token for token in tokens(sentence) if _is_exact(token)}
    if not exact <= evidence_tokens:
        return False
    return len(wanted & evidence_terms) >= SUPPORTED_SHARE * len(wanted)


def check_support(answer: str, passages: Sequence[str], question: str = "") -> Support:
    evidence = "\n".join(passages)
    evidence_terms, evidence_tokens = terms(evidence), set(tokens(evidence))
    sentences = answer_sentences(answer)
    supported = sum(sentence_supported(s, evidence_terms, evidence_tokens) for s in sentences)
    return Support(
        len(sentences),
        supported,
        _echoes(answer, sentences, question),
        bool(_UNSURE.search(answer)),
    )


def _is_exact(token: str) -> bool:
    return any(character.isdigit() or character in "_-" for character in token)


def _echoes(answer: str, sentences: list[str], question: str) -> bool:
    if _PROMPT_ECHO.search(answer):
        return True
    normalised = [" ".join(sentence.lower().split()) for sentence in sentences]
    if len(normalised) >= 3 and len(set(normalised)) <= len(normalised) // 2:
        return True  # a loop: the same sentences over and over
    asked = " ".join(question.lower().split()).rstrip("?")
    return bool(asked) and any(sentence.rstrip("?") == asked for sentence in normalised)


_RELEASE = re.compile(r"[.!?:](?=\s)|\n")


def released_until(text: str, start: int) -> int:
    """Where the complete sentences of a streaming reply end (from `start` on): a sentence may
    be shown once it is whole, a code block once its fence is closed."""
    end = start
    for boundary in _RELEASE.finditer(text, start):
        if text.count("```", 0, boundary.end()) % 2 == 0:
            end = boundary.end()
    return end
