"""The extractive answer: the passages' own sentences and code blocks that answer the question,
quoted verbatim with their citation, under one short lead line."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from domain.grounding.terms import TermStats, question_terms, terms, weighted_coverage
from domain.grounding.units import Unit, passage_units


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk as the answer sees it."""

    source: str
    locator: str
    text: str
    code: bool
    score: float  # the retrieval's dense similarity, 0 when unknown


@dataclass(frozen=True)
class ExtractionSettings:
    max_chars: int = 600  # quoted text, lead line aside
    max_units: int = 3
    companion_share: float = 0.8  # a further unit must score this share of the best one
    dense_weight: float = 0.65
    context_weight: float = 0.3  # what the heading path or symbol adds to a unit's words
    adjacent_code: bool = True  # the best sentence brings the code block right before or after it
    follow_on: bool = True  # the best unit brings the unit after it


@dataclass(frozen=True)
class ScoredUnit:
    unit: Unit
    score: float


@dataclass(frozen=True)
class Extract:
    text: str
    passages: tuple[int, ...]  # indices of the quoted passages, in the order cited
    score: float  # the best unit's score


def candidate_units(passages: Sequence[Passage]) -> list[Unit]:
    return [
        unit
        for index, passage in enumerate(passages)
        for unit in passage_units(index, passage.text, code=passage.code)
    ]


def score_units(
    question: str,
    passages: Sequence[Passage],
    units: Sequence[Unit],
    stats: TermStats,
    similarities: Sequence[float] | None,
    settings: ExtractionSettings,
) -> list[ScoredUnit]:
    """Each unit by the rare question words it holds (with its passage's headings) and, when
    given, its embedding similarity to the question."""
    wanted = question_terms(question)
    context = [terms(f"{p.source} {p.locator}") for p in passages]
    scored: list[ScoredUnit] = []
    for position, unit in enumerate(units):
        own = terms(unit.text)
        lexical = weighted_coverage(wanted, own, stats)
        around = weighted_coverage(wanted, own | context[unit.passage], stats)
        score = lexical + settings.context_weight * (around - lexical)
        if similarities is not None:
            score = (1 - settings.dense_weight) * score + settings.dense_weight * max(
                similarities[position], 0.0
            )
        score += 0.05 * passages[unit.passage].score
        scored.append(ScoredUnit(unit, 0.0 if unit.heading else score))
    return scored


def extract(
    scored: Sequence[ScoredUnit], passages: Sequence[Passage], settings: ExtractionSettings
) -> Extract | None:
    """The best unit with what it needs around it (the sentence introducing a code block, the
    block a sentence introduces), then close runners-up while the answer stays short."""
    ranked = sorted(scored, key=lambda item: item.score, reverse=True)
    if not ranked or ranked[0].score <= 0:
        return None
    best = ranked[0]
    chosen: list[Unit] = []
    for item in ranked:
        if len(chosen) >= settings.max_units:
            break
        if item is not best and item.score < settings.companion_share * best.score:
            break
        group = _with_companions(item.unit, scored, settings if item is best else None)
        if _length([*chosen, *group]) > settings.max_chars and chosen:
            continue
        chosen.extend(unit for unit in group if unit not in chosen)
    return Extract(
        _format(chosen, passages), tuple(dict.fromkeys(u.passage for u in chosen)), best.score
    )


def _with_companions(
    unit: Unit, scored: Sequence[ScoredUnit], best: ExtractionSettings | None
) -> list[Unit]:
    same = [item.unit for item in scored if item.unit.passage == unit.passage]
    before = next((u for u in same if u.position == unit.position - 1), None)
    after = next((u for u in same if u.position == unit.position + 1), None)
    group = [unit]
    if best is not None and not unit.code:
        # A command next to the sentence that answers is usually what the asker will run.
        if best.adjacent_code and after is not None and after.code:
            return [unit, after]
        if best.adjacent_code and before is not None and before.code:
            return [before, unit]
        if best.follow_on and after is not None and not after.heading:
            return [unit, after]
    introduced = before is not None and not before.code and not before.heading
    if unit.code and introduced and before is not None and before.text.rstrip().endswith(":"):
        group.insert(0, before)
    if not unit.code and after is not None and after.code and unit.text.rstrip().endswith(":"):
        group.append(after)
    return group


def _length(units: Sequence[Unit]) -> int:
    return sum(len(unit.text) + 1 for unit in units)


def _format(units: Sequence[Unit], passages: Sequence[Passage]) -> str:
    order = list(dict.fromkeys(unit.passage for unit in units))
    parts: list[str] = []
    for reference, index in enumerate(order, start=1):
        passage = passages[index]
        where = passage.locator.rsplit(" > ", 1)[-1] if passage.locator else ""
        lead = f"From {passage.source}" + (f" ({where})" if where else "")
        if reference == 1:
            parts.append(f"{lead} [{reference}]:")
        else:
            parts.append(f"Also, {lead[0].lower()}{lead[1:]} [{reference}]:")
        quoted = sorted((u for u in units if u.passage == index), key=lambda u: u.position)
        parts.extend(_quote(unit) for unit in quoted)
    return "\n\n".join(parts)


def _quote(unit: Unit) -> str:
    if unit.code:
        return (
            unit.text if unit.text.lstrip().startswith(("```", "~~~")) else f"```\n{unit.text}\n```"
        )
    return "\n".join(f"> {line}" for line in unit.text.split("\n"))
