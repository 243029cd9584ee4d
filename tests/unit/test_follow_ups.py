"""Follow-ups carry their thread (bounded), answers stream as drafts, and lineage has timings."""

from __future__ import annotations

import pytest

from adapters.privacy.pseudonyms import HmacPseudonymizer
from adapters.privacy.sealer import AesGcmSealer
from domain.answering import AnsweringSettings, AnswerQuestion
from domain.conversation import Question
from domain.language import PromptTemplate
from domain.privacy_service import Person, PrivacyService
from domain.retrieval import SearchHit
from tests.fakes import (
    FixedClock,
    InMemoryConversationLog,
    InMemoryEventStore,
    InMemoryKeyVault,
    NoScrub,
    RecordingPlatform,
    ScriptedIndex,
    ScriptedModel,
    trusting_grounder,
)

TEMPLATE = PromptTemplate(
    "answer-test", "Cite passages.", "{context}\n\n{history}Question: {question}\nAnswer:",
    stop=("\nQuestion:",),
)  # fmt: skip
ALICE = Person("local", "default", "alice")
BOB = Person("local", "default", "bob")
HIT = SearchHit("c1", "kb/deploy.md", "Rollback", 30, 38, "Run make rollback.", "MIT", 0.9, 0.8)


class Rig:
    def __init__(self, pieces: list[str], **settings: float) -> None:
        self.store = InMemoryEventStore()
        self.keys = InMemoryKeyVault()
        self.privacy = PrivacyService(
            self.store, NoScrub(), HmacPseudonymizer(b"p" * 32), AesGcmSealer(self.keys),
            self.keys, FixedClock(),
        )  # fmt: skip
        self.model, self.index = ScriptedModel(pieces), ScriptedIndex([HIT])
        self.platform = RecordingPlatform()
        self.ask = AnswerQuestion(
            self.store, self.privacy, self.index, self.model, TEMPLATE, self.platform,
            AnsweringSettings(**settings),  # type: ignore[arg-type]
            InMemoryConversationLog(self.store), trusting_grounder(self.index),
        )  # fmt: skip

    def prompt(self, n: int) -> str:
        return self.model.requests[n].messages[1].content


async def test_a_follow_up_in_the_thread_carries_the_earlier_exchange() -> None:
    rig = Rig(["Run make rollback [1]."])
    first = await rig.ask(Question(ALICE, "general", "how do I roll back prod?", "T1"))
    second = await rig.ask(Question(ALICE, "general", "and on staging?", "T1"))

    assert "Earlier in this thread" not in rig.prompt(0)
    assert "Question: how do I roll back prod?\nAnswer: Run make rollback [1]." in rig.prompt(1)
    assert rig.prompt(1).endswith("Question: and on staging?\nAnswer:")
    # A short follow-up retrieves with the words of the question it follows.
    assert rig.index.queries[1] == "and on staging? (roll back prod)"
    assert rig.model.requests[1].stop == ("\nQuestion:",)
    asked = [e for e in rig.store.events if e.type.endswith("Asked")]
    assert [e.type for e in asked] == ["conversation.QuestionAsked", "conversation.FollowUpAsked"]
    assert asked[1].payload["follows"] == first.answer_id
    assert asked[0].payload["thread"] == asked[1].payload["thread"]
    given = [e for e in rig.store.events if e.type == "conversation.AnswerGiven"]
    assert [g.payload["history_turns"] for g in given] == [0, 1]
    assert second.answer_id != first.answer_id


async def test_other_threads_and_channels_do_not_leak_into_the_prompt() -> None:
    rig = Rig(["ok"])
    await rig.ask(Question(ALICE, "general", "secret plan for T1", "T1"))
    await rig.ask(Question(ALICE, "random", "in another channel", "T1"))
    await rig.ask(Question(ALICE, "general", "in another thread", "T2"))
    assert all("secret plan" not in rig.prompt(n) for n in (1, 2))


async def test_history_is_bounded_by_turns_and_by_its_share_of_the_budget() -> None:
    rig = Rig(["ok"], history_turns=2)
    for n in range(5):
        await rig.ask(Question(ALICE, "general", f"question number {n}", "T"))
    last = rig.prompt(4)
    assert "question number 2" in last
    assert "question number 3" in last
    assert "question number 1" not in last

    tight = Rig(["a fairly long answer " * 10], budget_tokens=300, history_share=0.5)
    for n in range(3):
        await tight.ask(Question(ALICE, "general", f"question number {n}", "T"))
    assert "question number 1" in tight.prompt(2)  # the newest turn fits
    assert "question number 0" not in tight.prompt(2)  # the oldest went first


async def test_an_erased_askers_turns_are_left_out_of_the_thread() -> None:
    rig = Rig(["ok"])
    await rig.ask(Question(BOB, "general", "bob's question", "T"))
    await rig.privacy.forget(BOB)
    await rig.ask(Question(ALICE, "general", "alice follows up", "T"))
    assert "bob's question" not in rig.prompt(1)


async def test_the_answer_streams_as_drafts_and_lineage_has_the_timings() -> None:
    rig = Rig(["Run ", "make ", "rollback."])
    answer = await rig.ask(Question(ALICE, "general", "how to roll back?"))
    assert rig.platform.drafts == ["Run ", "Run make ", "Run make rollback."]
    timings = rig.store.events[-1].payload["timings_ms"]
    assert set(timings) == {
        "storage",
        "retrieval",
        "prompt",
        "first_token",
        "generation",
        "checking",
    }
    assert set(answer.timings_ms) == set(timings)


@pytest.mark.parametrize("pieces", [[], ["  ", "\n"]])
async def test_an_empty_answer_is_a_failure_with_a_reply(pieces: list[str]) -> None:
    rig = Rig(pieces)
    answer = await rig.ask(Question(ALICE, "general", "how to roll back?"))
    assert answer.failed
    assert rig.store.events[-1].type == "conversation.AnswerFailed"
    assert rig.platform.sent[-1][2] is answer
