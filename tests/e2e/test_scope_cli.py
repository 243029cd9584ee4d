"""Scoped channels on the local channel, end to end: two sources ingested and a channel scoped
with the `buddy` CLI, then questions through the composition root's answerer (a scripted model
instead of llama.cpp, everything else real: SQLite, the embedder, retrieval, grounding).

A question whose answer lies only in a source out of the channel's scope is declined there, and
so is a follow-up in its thread; the same question in an unscoped channel is answered from the
right source."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.settings import Settings
from domain.conversation import Answer
from domain.grounding.grounder import DECLINED
from domain.privacy_service import Person
from tests.e2e.test_cli import buddy
from tests.e2e.test_serve_in_process import DOC
from tests.fakes import ScriptedModel

pytestmark = pytest.mark.slow
OTHER = """# The office

The coffee machine on the third floor is descaled every Friday. Visitors sign in at the front
desk and wear a badge.
"""
QUESTION = "how do I roll back production?"
REPLY = ["Roll back production with ", "`make rollback ENV=production` [1]."]


def write_sources(root: Path) -> tuple[Path, Path]:
    runbooks, office = root / "kb" / "runbooks", root / "kb" / "office"
    runbooks.mkdir(parents=True)
    office.mkdir(parents=True)
    (runbooks / "rollback.md").write_text(DOC)
    (office / "office.md").write_text(OTHER)
    return runbooks, office


async def test_a_scoped_channel_declines_what_only_another_source_answers(
    tmp_path: Path, clean_env: dict[str, str]
) -> None:
    from adapters.platforms.local.channel import LocalChannel
    from bot.bootstrap import bootstrap
    from bot.cli.conversation import thread_root
    from bot.operations.index import refresh_index
    from domain.conversation import Question

    database = f"sqlite+aiosqlite:///{tmp_path / 'buddy.db'}"
    env = {**clean_env, "DATABASE_URL": database}
    runbooks, office = write_sources(tmp_path)
    for path, name in ((runbooks, "runbooks"), (office, "office")):
        done = buddy("ingest", str(path), "--source-name", name, "--license", "MIT", env=env,
                     timeout=600)  # fmt: skip
        assert done.returncode == 0, done.stderr

    refused = buddy("scope", "set", "local", "general", "handbook", env=env)
    assert refused.returncode == 1
    assert "unknown source handbook: the sources are office, runbooks" in refused.stderr
    scoped = buddy("scope", "set", "local", "general", "office", "--json", env=env)
    assert scoped.returncode == 0, scoped.stderr
    document = json.loads(scoped.stdout)
    assert document["scope"]["sources"] == ["office"]
    assert "general" not in scoped.stdout  # the channel as a pseudonym
    listed = json.loads(buddy("scope", "--json", env=env).stdout)["scopes"]
    assert [(s["platform"], s["channel"], s["sources"]) for s in listed] == [
        ("local", document["channel"], ["office"])
    ]
    assert "office" in buddy("scope", env=env).stdout

    settings = Settings(BUDDY_DATA_DIR=tmp_path / "data", DATABASE_URL=database)  # type: ignore[call-arg]
    alice = Person("local", "default", "alice")
    model = ScriptedModel(REPLY)
    async with bootstrap(settings, model=model) as services:
        await refresh_index(services)
        local = LocalChannel(None)
        answerer = await services.answerer(local)

        async def ask(text: str, channel: str, thread: str | None = None) -> Answer:
            root = await thread_root(services, thread)
            return await answerer(Question(alice, channel, text, root))

        declined = await ask(QUESTION, "general")
        answered = await ask(QUESTION, "random")
        follow_up = await ask("and how do I check it worked?", "general", declined.answer_id)
        asked = await services.store.read_all(types=["conversation.FollowUpAsked"])

    assert declined.mode == DECLINED
    assert declined.sources == ()
    assert answered.mode != DECLINED
    assert [source.path for source in answered.sources] == ["runbooks/rollback.md"]
    assert follow_up.mode == DECLINED  # the thread stays in the channel's scope
    assert len(model.requests) == 1  # the model was asked in the unscoped channel alone
    [follow] = asked
    assert follow.payload["follows"] == declined.answer_id
    assert follow.payload["scope"] == [document["scope"]["source_ids"][0]]

    cleared = buddy("scope", "clear", "local", "general", "--json", env=env)
    assert cleared.returncode == 0, cleared.stderr
    assert json.loads(cleared.stdout)["scope"] is None
    assert json.loads(buddy("scope", "--json", env=env).stdout) == {"scopes": []}


async def test_an_admin_scopes_the_chat_channel_with_admin_scope(tmp_path: Path) -> None:
    from bot.bootstrap import bootstrap
    from bot.cli.chat import ChatSession
    from bot.cli.knowledge import ingest

    runbooks, office = write_sources(tmp_path)
    settings = Settings(
        BUDDY_DATA_DIR=tmp_path / "data", DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/b.db",
        BUDDY_ADMINS="local:alice",
    )  # type: ignore[call-arg]  # fmt: skip
    for path, name in ((runbooks, "runbooks"), (office, "office")):
        await ingest(settings, [path], "MIT", name, "headings", True)
    shown: list[str] = []
    async with bootstrap(settings, model=ScriptedModel(REPLY)) as services:
        from adapters.platforms.local.channel import LocalChannel

        answer = await services.answerer(LocalChannel(shown.append))
        alice, bob = (
            ChatSession(services, answer, Person("local", "default", name), "general", shown.append)
            for name in ("alice", "bob")
        )

        async def said(session: ChatSession, line: str) -> str:
            shown.clear()
            await session.handle(line)
            return "".join(shown)

        assert "Only Buddy's admins" in await said(bob, "/admin scope runbooks")
        assert "answers only from office" in await said(alice, "/admin scope office")
        assert "not scoped" not in await said(alice, "/admin scope")
        assert "I couldn't find anything" in await said(alice, QUESTION)
        assert "Scope cleared" in await said(alice, "/admin scope all")
        assert "make rollback ENV=production" in await said(alice, "/new") + await said(
            alice, QUESTION
        )
