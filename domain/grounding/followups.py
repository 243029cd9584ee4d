"""A follow-up in a thread as a question that stands alone, for retrieval."""

from __future__ import annotations

from collections.abc import Sequence

from domain.grounding.terms import content_words, question_terms

# A follow-up with this many content words of its own usually names its topic itself.
_SELF_CONTAINED = 4


def standalone_query(earlier: Sequence[str], question: str) -> str:
    """The question, completed by the earlier question's words it leaves out when it is short
    ("and on staging?" after "how do I deploy a branch?")."""
    if not earlier:
        return question
    own = {spellings[0] for spellings in question_terms(question)}
    if len(own) >= _SELF_CONTAINED:
        return question
    previous = " ".join(
        word for word in content_words(earlier[-1]) if question_terms(word)[0][0] not in own
    )
    return f"{question} ({previous})" if previous else question
