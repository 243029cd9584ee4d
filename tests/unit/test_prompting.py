"""Prompts: versioned files, and fitting retrieved passages to the context window."""

from __future__ import annotations

import pytest

from adapters.llm.prompt_files import load_prompt
from domain.errors import ConfigurationError
from domain.language import ContextPassage, PromptTemplate, fit_context, format_passages

TEMPLATE = PromptTemplate("answer-test", "Answer from the passages.", "{context}\n\nQ: {question}")


def words(text: str) -> int:
    return len(text.split())


def passages(*sizes: int) -> list[ContextPassage]:
    return [ContextPassage(i + 1, f"doc{i + 1}.md", "word " * size) for i, size in enumerate(sizes)]


def test_the_shipped_answer_prompt_loads_with_its_version() -> None:
    template = load_prompt("answer", "v1")
    assert template.version == "answer-v1"
    system, user = template.render("how do I deploy?", "[1] docs/deploy.md\nmake deploy")
    assert "[1]" in system.content
    assert user.content.endswith("Question: how do I deploy?\nAnswer:")
    assert "make deploy" in user.content
    with pytest.raises(ConfigurationError, match="no prompt template"):
        load_prompt("answer", "v999")


def test_the_answer_prompt_v2_lays_out_history_and_stops_before_a_new_question() -> None:
    template = load_prompt("answer", "v2")
    assert template.stop == ("\nQuestion:", "\n\n\n")
    history = template.history([("how do I deploy?", "make deploy [1]")])
    _, user = template.render("and roll back?", "[1] docs/deploy.md\nmake rollback", history)
    assert user.content.endswith(
        "Earlier in this thread:\nQuestion: how do I deploy?\nAnswer: make deploy [1]\n\n"
        "Question: and roll back?\nAnswer:"
    )
    assert template.history([]) == ""


def test_history_counts_against_the_budget_and_is_never_cut() -> None:
    template = PromptTemplate("t", "sys", "{context}\n{history}Q: {question}")
    history = template.history([("earlier " * 20, "answer " * 20)])
    without = fit_context(template, "how?", passages(30, 30), budget_tokens=110, count_tokens=words)
    with_history = fit_context(
        template, "how?", passages(30, 30), budget_tokens=110, count_tokens=words, history=history
    )
    assert [p.reference for p in without] == [1, 2]
    assert [p.reference for p in with_history] == [1]


def test_everything_fits_in_a_large_window() -> None:
    chosen = fit_context(
        TEMPLATE, "how?", passages(10, 10, 10), budget_tokens=1000, count_tokens=words
    )
    assert [p.reference for p in chosen] == [1, 2, 3]


def test_the_least_relevant_passages_go_first() -> None:
    chosen = fit_context(
        TEMPLATE, "how?", passages(30, 30, 30), budget_tokens=80, count_tokens=words
    )
    assert [p.reference for p in chosen] == [1, 2]


def test_a_single_long_passage_is_shortened_and_the_question_kept_whole() -> None:
    question = "what is the rollback procedure for production?"
    chosen = fit_context(TEMPLATE, question, passages(500), budget_tokens=60, count_tokens=words)
    [only] = chosen
    assert only.text.endswith("…")
    rendered = TEMPLATE.render(question, format_passages(chosen))
    assert sum(words(m.content) for m in rendered) <= 60
    assert question in rendered[1].content


def test_a_question_too_long_for_any_passage_keeps_no_passage() -> None:
    question = "why " * 100
    assert fit_context(TEMPLATE, question, passages(5), budget_tokens=50, count_tokens=words) == []
