"""Channel scopes over fakes (domain/scopes.py): set, refuse, inherit, clear; what the events
keep; and the answer path retrieving from the scope alone, follow-ups and restarts included."""

from __future__ import annotations

import pytest

from adapters.privacy.pseudonyms import HmacPseudonymizer
from adapters.privacy.sealer import AesGcmSealer
from domain.admin import AdminConsole, AdminRequest, Admins
from domain.answering import AnsweringSettings, AnswerQuestion
from domain.conversation import Question
from domain.events import NewEvent
from domain.grounding.grounder import DECLINED
from domain.ingestion import digest
from domain.language import PromptTemplate
from domain.privacy_service import Person, PrivacyService
from domain.retrieval import SearchHit
from domain.scopes import SCOPES_STREAM, ChannelScopes, ScopeError, describe
from tests.fakes import (
    FixedClock,
    InMemoryConversationLog,
    InMemoryEventStore,
    InMemoryKeyVault,
    NoScrub,
    RecordingPlatform,
    ScriptedAdminOperations,
    ScriptedIndex,
    ScriptedModel,
    trusting_grounder,
)
from tests.unit.test_admin_console import Replies

ALICE = Person("slack", "T1", "U0ALICE1")
TEMPLATE = PromptTemplate("t", "Cite.", "{context}\n{history}Question: {question}\nAnswer:")
DEPLOY = SearchHit("c1", "docs/deploy.md", "Rollback", 1, 5, "Run make rollback.", "MIT", 0.9, 0.8)
PAGER = SearchHit("c2", "ops/pager.md", "Pager", 1, 3, "The pager rotates weekly.", "MIT", 0.8, 0.7)
SOURCE_OF = {"c1": digest("source", "docs"), "c2": digest("source", "ops")}


@pytest.fixture
def store() -> InMemoryEventStore:
    return InMemoryEventStore()


@pytest.fixture
def privacy(store: InMemoryEventStore) -> PrivacyService:
    keys = InMemoryKeyVault()
    return PrivacyService(store, NoScrub(), HmacPseudonymizer(b"p" * 32), AesGcmSealer(keys),
                          keys, FixedClock())  # fmt: skip


async def register(store: InMemoryEventStore, *names: str) -> None:
    for name in names:
        payload = {"source_id": digest("source", name), "name": name, "root": f"/{name}",
                   "license": "MIT"}  # fmt: skip
        await store.append(f"source-{payload['source_id']}", None,
                           [NewEvent("knowledge.SourceRegistered", payload)])  # fmt: skip


async def test_a_channel_scope_wins_over_its_workspaces_and_clearing_falls_back(
    store: InMemoryEventStore, privacy: PrivacyService
) -> None:
    await register(store, "docs", "ops", "wiki")
    scopes = ChannelScopes(store, privacy)
    assert await scopes.sources_for("slack", "T1", "C1") is None  # unscoped: everything

    workspace = await scopes.set("slack", "T1", "*", ["wiki"])
    assert workspace is not None
    assert workspace.whole_workspace
    own = await scopes.set("slack", "T1", "C1", ["docs", "ops", "docs"])
    assert own is not None
    assert own.names == ("docs", "ops")
    assert await scopes.sources_for("slack", "T1", "C1") == {SOURCE_OF["c1"], SOURCE_OF["c2"]}
    assert await scopes.sources_for("slack", "T1", "C2") == {digest("source", "wiki")}
    assert await scopes.sources_for("slack", "T2", "C1") is None  # another workspace
    assert await scopes.sources_for("discord", "T1", "C1") is None  # another platform

    after = await scopes.clear("slack", "T1", "C1")
    assert after is not None
    assert after.names == ("wiki",)
    assert "follows its workspace's scope" in describe(after)
    assert await scopes.clear("slack", "T1", "*") is None
    assert await scopes.sources_for("slack", "T1", "C1") is None
    assert "not scoped" in describe(None)


async def test_an_unknown_source_is_refused_with_the_known_ones(
    store: InMemoryEventStore, privacy: PrivacyService
) -> None:
    scopes = ChannelScopes(store, privacy)
    with pytest.raises(ScopeError, match="none yet"):
        await scopes.set("slack", "T1", "C1", ["docs"])
    await register(store, "ops", "docs")
    with pytest.raises(ScopeError, match=r"unknown sources nope, nada: the sources are docs, ops"):
        await scopes.set("slack", "T1", "C1", ["docs", "nope", "nada"])
    assert not [e for e in store.events if e.stream_id == SCOPES_STREAM]


async def test_the_events_hold_pseudonyms_and_another_process_sees_them(
    store: InMemoryEventStore, privacy: PrivacyService
) -> None:
    await register(store, "docs")
    first, replica = ChannelScopes(store, privacy), ChannelScopes(store, privacy)
    assert await replica.scopes() == []
    await first.set("slack", "T1", "C0SECRET1", ["docs"])
    [event] = [e for e in store.events if e.stream_id == SCOPES_STREAM]
    assert event.type == "knowledge.ChannelScoped"
    assert "C0SECRET1" not in str(event.payload)
    assert "T1" not in str(event.payload)  # the workspace is a pseudonym too
    assert event.payload["channel"] == privacy.channel("slack", "T1", "C0SECRET1")
    assert event.payload["sources"] == ["docs"]
    [seen] = await replica.scopes()  # folded from the stream: no restart needed
    assert seen.names == ("docs",)
    assert seen.channel == event.payload["channel"]


def scoped_answerer(
    store: InMemoryEventStore, privacy: PrivacyService, index: ScriptedIndex,
    platform: RecordingPlatform, scopes: ChannelScopes | None,
) -> AnswerQuestion:  # fmt: skip
    return AnswerQuestion(
        store, privacy, index, ScriptedModel(["The pager rotates weekly [1]."]), TEMPLATE,
        platform, AnsweringSettings(), InMemoryConversationLog(store),
        trusting_grounder(index), scopes,
    )  # fmt: skip


async def test_a_question_in_a_scoped_channel_retrieves_from_its_sources_alone(
    store: InMemoryEventStore, privacy: PrivacyService
) -> None:
    await register(store, "docs", "ops")
    scopes = ChannelScopes(store, privacy)
    await scopes.set("slack", "T1", "C-docs", ["docs"])
    index, platform = ScriptedIndex([PAGER, DEPLOY], SOURCE_OF), RecordingPlatform()
    ask = scoped_answerer(store, privacy, index, platform, scopes)

    elsewhere = await ask(Question(ALICE, "C-random", "who has the pager?", None, "Ev1"))
    assert {s.path for s in elsewhere.sources} == {"ops/pager.md", "docs/deploy.md"}
    scoped = await ask(Question(ALICE, "C-docs", "who has the pager?", None, "Ev2"))
    assert [s.path for s in scoped.sources] == ["docs/deploy.md"]
    follow = await ask(Question(ALICE, "C-docs", "and this week?", scoped.answer_id, "Ev3"))
    assert [s.path for s in follow.sources] == ["docs/deploy.md"]
    assert index.scopes == [None, {SOURCE_OF["c1"]}, {SOURCE_OF["c1"]}]
    asked = [e.payload for e in store.events if e.type.endswith("Asked")]
    assert "scope" not in asked[0]
    assert asked[1]["scope"] == asked[2]["scope"] == [SOURCE_OF["c1"]]
    assert "follows" in asked[2]


async def test_a_scoped_question_is_declined_when_its_sources_hold_nothing(
    store: InMemoryEventStore, privacy: PrivacyService
) -> None:
    await register(store, "docs", "wiki")
    scopes = ChannelScopes(store, privacy)
    await scopes.set("slack", "T1", "*", ["wiki"])  # the whole workspace
    index, platform = ScriptedIndex([PAGER, DEPLOY], SOURCE_OF), RecordingPlatform()
    ask = scoped_answerer(store, privacy, index, platform, scopes)
    answer = await ask(Question(ALICE, "C1", "who has the pager?", None, "Ev1"))
    assert answer.mode == DECLINED
    assert answer.sources == ()


async def test_an_accepted_question_keeps_its_scope_when_answered_after_a_restart(
    store: InMemoryEventStore, privacy: PrivacyService
) -> None:
    await register(store, "docs", "ops")
    await ChannelScopes(store, privacy).set("slack", "T1", "C-docs", ["docs"])
    index = ScriptedIndex([PAGER, DEPLOY], SOURCE_OF)
    before = scoped_answerer(
        store, privacy, index, RecordingPlatform(), ChannelScopes(store, privacy)
    )
    await before.accept(Question(ALICE, "C-docs", "who has the pager?", None, "Ev1"), "slack")
    [job] = store.outbox
    # The next process answers it, even before it has read any scope.
    after = scoped_answerer(store, privacy, index, RecordingPlatform(), None)
    answer = await after.resume(dict(job.payload))
    assert answer is not None
    assert [s.path for s in answer.sources] == ["docs/deploy.md"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [("scope", None), ("scope all", ()), ("scope ALL", ()), ("scope docs ops", ("docs", "ops"))],
)
async def test_the_scope_command_shows_sets_or_clears(
    store: InMemoryEventStore, privacy: PrivacyService, text: str,
    expected: tuple[str, ...] | None,
) -> None:  # fmt: skip
    operations = ScriptedAdminOperations()
    console = AdminConsole(store, privacy, Admins(["slack:U0ALICE1"]), operations)
    replies = Replies()
    assert await console(AdminRequest.parse(ALICE, "C1", text), replies) == "ok"
    assert operations.calls == [("scope", ("slack", "T1", "C1", expected))]
    assert len(replies.said) == 1


async def test_all_with_sources_is_a_usage_error(
    store: InMemoryEventStore, privacy: PrivacyService
) -> None:
    operations = ScriptedAdminOperations()
    console = AdminConsole(store, privacy, Admins(["slack:U0ALICE1"]), operations)
    replies = Replies()
    request = AdminRequest.parse(ALICE, "C1", "scope docs all")
    assert await console(request, replies) == "usage"
    assert operations.calls == []
    assert "Usage: `scope [SOURCE...|all]`" in replies.said[0]
