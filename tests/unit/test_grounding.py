"""Grounding, pure: the words compared, support checking, extractive selection, the abstain rule,
and the answer path that declines, keeps a supported reply or quotes the passages."""

from __future__ import annotations

from typing import Any

from adapters.privacy.pseudonyms import HmacPseudonymizer
from adapters.privacy.sealer import AesGcmSealer
from domain.answering import NOTHING_FOUND, AnswerQuestion
from domain.conversation import Question
from domain.grounding.extractive import (
    ExtractionSettings,
    Passage,
    candidate_units,
    extract,
    score_units,
)
from domain.grounding.followups import standalone_query
from domain.grounding.grounder import Grounder
from domain.grounding.relevance import AbstainRule, Relevance
from domain.grounding.support import check_support, released_until
from domain.grounding.terms import TermStats, question_terms, terms, weighted_coverage
from domain.grounding.units import passage_units
from domain.knowledge.search_text import search_text
from domain.language import PromptTemplate
from domain.privacy_service import Person, PrivacyService
from domain.retrieval import SearchHit
from tests.fakes import (
    FixedClock,
    InMemoryEventStore,
    InMemoryKeyVault,
    NoScrub,
    RecordingPlatform,
    ScriptedIndex,
    ScriptedModel,
)

ROLLING_BACK = (
    "Rolling back\n\nIf the error rate rises above 1% or p99 latency doubles, roll back at once:"
    "\n\n```bash\nmake rollback ENV=production\n```\n\nRollback redeploys the previous release "
    "tag. Database migrations are not reverted automatically; write a new forward migration "
    "instead."
)
DEPLOY = (
    "Deploy to production\n\nProduction deploys are manual and need a second engineer's "
    "approval.\n\n1. Run `make deploy ENV=production TAG=v2.14.0`.\n2. Watch the error rate "
    "dashboard for ten minutes."
)
ON_CALL = "The on-call engineer carries the pager for one week, Monday to Monday."
HITS = [
    SearchHit("c1", "docs/deployment.md", "Deploying > Rolling back", 30, 38, ROLLING_BACK,
              "MIT", 0.7, 0.62),
    SearchHit("c2", "docs/deployment.md", "Deploying > Deploy to production", 20, 28, DEPLOY,
              "MIT", 0.6, 0.55),
    SearchHit("c3", "docs/on-call.txt", "", 1, 2, ON_CALL, "MIT", 0.3, 0.3),
]  # fmt: skip
STATS = TermStats(3, {})


def test_search_text_heads_prose_with_its_heading_path_and_code_with_path_and_symbol() -> None:
    assert search_text("d.md", "Deploying > Rolling back", "prose", "Rolling back\n\nRun it.") == (
        "Deploying\nRolling back\n\nRun it."
    )
    assert search_text("src/retry.py", "Retry.run", "code", "def run():") == (
        "src/retry.py Retry.run\ndef run():"
    )


def test_a_shortened_word_matches_the_word_it_starts() -> None:
    stats = TermStats(10, {})
    assert (
        weighted_coverage(question_terms("prod config"), terms("production configuration"), stats)
        == 1.0
    )
    assert weighted_coverage(question_terms("ack"), terms("acknowledge"), stats) == 0.0  # too short


def test_terms_match_inflections_identifiers_and_split_compounds() -> None:
    assert {"deploy", "roll", "dev_addr", "dev", "addr"} <= terms("Deploying rolls dev_addr")
    wanted = question_terms("how do I roll back a deploy?")
    assert ("roll", "rollback") in wanted
    assert all(term[0] not in {"how", "do", "i", "a"} for term in wanted)


def test_units_keep_code_blocks_whole_and_cut_prose_into_sentences() -> None:
    units = passage_units(0, ROLLING_BACK, code=False)
    texts = [unit.text for unit in units]
    assert units[0].heading
    assert "make rollback ENV=production" in texts
    assert texts.count("Rollback redeploys the previous release tag.") == 1
    assert next(u for u in units if u.code).text == "make rollback ENV=production"


def test_support_accepts_what_the_passages_say_and_rejects_what_they_do_not() -> None:
    ok = check_support("Run make rollback ENV=production to roll back [1].", [ROLLING_BACK])
    assert (ok.sentences, ok.supported) == (1, 1)
    # The doc says "forward migration"; a number or a flag not in the passages is never supported.
    wrong = check_support(
        "Write a backward migration. Roll back when latency exceeds 250 ms.", [ROLLING_BACK]
    )
    assert wrong.supported == 0
    assert check_support("I don't know.", [ROLLING_BACK]).unsure
    assert check_support("Passages:\n[1] docs", [ROLLING_BACK]).echo
    loop = "Roll back at once. " * 4
    assert check_support(loop, [ROLLING_BACK]).echo


def test_released_until_waits_for_whole_sentences_and_closed_fences() -> None:
    assert released_until("Run it. Then", 0) == len("Run it.")
    assert released_until("Run:\n```\nmake x\n", 0) == len("Run:\n")
    assert released_until("Run:\n```\nmake x\n```\n", 0) == len("Run:\n```\nmake x\n```\n")


def _extract(question: str) -> str:
    passages = [Passage(h.source, h.locator, h.text, False, h.dense_score or 0.0) for h in HITS]
    units = candidate_units(passages)
    settings = ExtractionSettings()
    scored = score_units(question, passages, units, STATS, None, settings)
    found = extract(scored, passages, settings)
    assert found is not None
    return found.text


def test_the_extractive_answer_quotes_the_command_with_its_intro_and_citation() -> None:
    text = _extract("how do I roll back a production deploy?")
    assert text.startswith("From docs/deployment.md (Rolling back) [1]:")
    assert "```\nmake rollback ENV=production\n```" in text
    assert "> If the error rate rises above 1% or p99 latency doubles, roll back at once:" in text
    assert len(text) <= 600


def test_the_extractive_answer_picks_the_sentence_that_answers() -> None:
    text = _extract("do db migrations get reverted when we roll back?")
    assert "write a new forward migration" in text
    assert "second engineer" not in text


def test_the_abstain_rule_needs_similarity_and_the_questions_rare_words() -> None:
    rule = AbstainRule(min_dense=0.3, min_coverage=0.5)
    assert rule.answerable(Relevance(dense=0.6, coverage=0.7, unit=0.5))
    assert not rule.answerable(Relevance(dense=0.6, coverage=0.2, unit=0.5))
    assert not rule.answerable(Relevance(dense=0.2, coverage=0.9, unit=0.5))


async def test_grounder_declines_a_question_the_passages_do_not_cover() -> None:
    grounding = await Grounder(ScriptedIndex(HITS)).ground("how do I reset my VPN password?")
    assert not grounding.answerable


TEMPLATE = PromptTemplate("answer-test", "Cite passages.", "{context}\n\nQuestion: {question}")
ALICE = Person("local", "default", "alice")


def _answerer(model: ScriptedModel, hits: list[SearchHit]) -> tuple[AnswerQuestion, Any]:
    store, keys = InMemoryEventStore(), InMemoryKeyVault()
    privacy = PrivacyService(
        store, NoScrub(), HmacPseudonymizer(b"p" * 32), AesGcmSealer(keys), keys, FixedClock()
    )
    ask = AnswerQuestion(store, privacy, ScriptedIndex(hits), model, TEMPLATE, RecordingPlatform())
    return ask, store


async def test_an_unanswerable_question_is_declined_with_no_sources_and_no_generation() -> None:
    model = ScriptedModel(["Yes."])
    ask, store = _answerer(model, HITS)
    answer = await ask(Question(ALICE, "general", "how do I reset my VPN password?"))
    assert answer.text == NOTHING_FOUND
    assert answer.sources == ()
    assert answer.mode == "declined"
    assert model.requests == []  # nothing to generate from
    assert store.events[-1].payload["answer_mode"] == "declined"


async def test_a_supported_reply_is_kept_as_generated() -> None:
    reply = "To roll back a production deploy, run make rollback ENV=production [1]."
    model = ScriptedModel([reply[:30], reply[30:]])
    ask, store = _answerer(model, HITS)
    answer = await ask(Question(ALICE, "general", "how do I roll back a production deploy?"))
    assert answer.mode == "generated"
    assert answer.text == reply
    lineage = store.events[-1].payload
    assert lineage["answer_mode"] == "generated"
    assert lineage["support"] == 1.0


async def test_an_unsupported_reply_stops_the_model_and_is_replaced_by_quotes() -> None:
    pieces = ["Write a backward ", "migration. ", *["and more. "] * 50]
    model = ScriptedModel(pieces)
    ask, store = _answerer(model, HITS)
    answer = await ask(Question(ALICE, "general", "how do I roll back a production deploy?"))
    assert answer.mode == "extractive"
    assert "make rollback ENV=production" in answer.text
    assert "backward" not in answer.text
    assert [s.path for s in answer.sources] == ["docs/deployment.md"]
    assert store.events[-1].payload["answer_mode"] == "extractive"
    assert model.consumed < len(pieces)  # the model was stopped at the first bad sentence


async def test_checked_drafts_show_whole_supported_sentences_only() -> None:
    model = ScriptedModel(["Run make ", "rollback ENV=production. ", "Then watch ", "it."])
    store, keys = InMemoryEventStore(), InMemoryKeyVault()
    privacy = PrivacyService(
        store, NoScrub(), HmacPseudonymizer(b"p" * 32), AesGcmSealer(keys), keys, FixedClock()
    )
    platform = RecordingPlatform()
    ask = AnswerQuestion(store, privacy, ScriptedIndex(HITS), model, TEMPLATE, platform)
    await ask(Question(ALICE, "general", "how do I roll back a production deploy?"))
    assert platform.drafts == ["Run make rollback ENV=production."]


async def test_a_faithful_copy_of_the_wrong_passage_is_replaced_by_quotes() -> None:
    # Every sentence is in the passages, but it is the deploy steps, not the rollback.
    model = ScriptedModel(["Production deploys are manual and need a second engineer's approval."])
    ask, _ = _answerer(model, HITS)
    answer = await ask(Question(ALICE, "general", "how do I roll back a production deploy?"))
    assert answer.mode == "extractive"
    assert "make rollback ENV=production" in answer.text


async def test_an_echo_of_a_passage_header_is_not_an_answer() -> None:
    model = ScriptedModel(["[1] docs/deployment.md\nRolling back\n"])
    ask, _ = _answerer(model, HITS)
    answer = await ask(Question(ALICE, "general", "how do I roll back a production deploy?"))
    assert answer.mode == "extractive"


def test_a_follow_up_that_points_back_borrows_the_earlier_questions_words() -> None:
    earlier = ["how do I add our docs folder to buddy?"]
    assert standalone_query(earlier, "and on staging?") == "and on staging? (add docs folder buddy)"
    # Four words of its own, but "it" points back at the earlier question.
    assert standalone_query(earlier, "does it re-read files that didn't change?").endswith(
        "(add docs folder buddy)"
    )
    alone = "which grafana dashboard shows kafka consumer lag?"
    assert standalone_query(earlier, alone) == alone
    assert standalone_query([], "and on staging?") == "and on staging?"
