"""A follow-up in a thread as a question that stands alone, for retrieval."""

from __future__ import annotations

from collections.abc import Sequence

from domain.grounding.terms import content_words, question_terms

# A follow-up with this many content words of its own usually names its topic itself, unless it
# points back ("does it ...", "and that?", "after?").
_SELF_CONTAINED = 4
_POINTING_BACK = frozenset(
    [
        "it",
        "its",
        "that",
        "this",
        "those",
        "these",
        "they",
        "them",
        "there",
        "same",
        "also",
        "else",
        "after",
        "before",
        "then",
    ]
)


def standalone_query(earlier: Sequence[str], question: str) -> str:
    """The question, completed by the earlier question's words it leaves out when it is short
    or points back ("and on staging?", "does it retry?")."""
    if not earlier:
        return question
    own = {spellings[0] for spellings in question_terms(question)}
    words = {word.lower().strip("?.,!") for word in question.split()}
    if (
        len(own) >= _SELF_CONTAINED
        and words.isdisjoint(_POINTING_BACK)
        and not question.lower().startswith(("and ", "what about", "how about"))
    ):
        return question
    previous = " ".join(
        word
        for word in content_words(earlier[-1])
        if not {term[0] for term in question_terms(word)} <= own
    )
    return f"{question} ({previous})" if previous else question
