"""Registered sources over the real store and index, on SQLite and the embedded PostgreSQL: a Git
repository added, changed, renamed and pruned; the schedule with a fake clock (each source's own
interval, a failing one backed off and reported while the others sync); an index rebuilt from
the events equal to the live one; credentials never stored."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.settings import Settings
from domain.event_types import KnowledgeEvents
from domain.source_sync import SourceSync
from domain.sources import SourceError, SourceSpec
from tests.adapter.test_git_source import MIT, commit, git
from tests.fakes import FixedClock


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(BUDDY_DATA_DIR=tmp_path / "data", DATABASE_URL=database_url)  # type: ignore[call-arg]


def make_repo(path: Path, files: dict[str, str | bytes | None]) -> Path:
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    commit(path, {"LICENSE": MIT, **files}, "first")
    return path


def syncing(services: Any, clock: FixedClock) -> SourceSync:
    from adapters.sources.local import LocalFetcher
    from bot.operations.sources import git_fetcher

    fetchers = {"git": git_fetcher(services), "local": LocalFetcher()}
    return SourceSync(services.store, services.ingestion(), fetchers, clock)


async def indexed(services: Any) -> dict[str, str]:
    """path -> text of every chunk the live index holds."""
    from bot.operations.index import refresh_index

    await refresh_index(services)
    hits = await services.knowledge_index().search("deploy rollback hello", 50, mode="text")
    everything = await services.knowledge_index().chunks([h.chunk_id for h in hits])
    return {f"{h.source}:{h.start_line}": h.text for h in everything}


async def test_a_repository_kept_current_and_rebuilt_from_events(
    settings: Settings, tmp_path: Path
) -> None:
    from bot.bootstrap import bootstrap
    from bot.operations.index import refresh_index
    from bot.operations.sources import add_source, list_sources, remove_source, sync_sources

    repo = make_repo(tmp_path / "repo", {"deploy.md": "# Deploy\n\nRun make deploy.\n",
                                         "rollback.md": "# Rollback\n\nRun make rollback.\n",
                                         "old.md": "# Hello\n\nHello old.\n"})  # fmt: skip
    async with bootstrap(settings) as services:
        await add_source(services, f"file://{repo}", name="team", license_id=None, include=(),
                         exclude=(), every_hours=6, ref=None)  # fmt: skip
        [first] = await sync_sources(services, "team")
        assert first.as_json()["documents"]["added"] == 3
        head = git(repo, "rev-parse", "HEAD")[:12]
        assert set(await indexed(services)) == {f"team@{head}:{p}:1" for p in
                                                ("deploy.md", "rollback.md", "old.md")}  # fmt: skip

        commit(repo, {"deploy.md": "# Deploy\n\nRun make deploy ENV=prod.\n", "old.md": None})
        git(repo, "mv", "rollback.md", "undo.md")
        git(repo, "commit", "-qm", "rename")
        [second] = await sync_sources(services, "team")
        documents = second.as_json()["documents"]
        assert documents == {"added": 1, "changed": 1, "unchanged": 0, "removed": 2}
        head2 = git(repo, "rev-parse", "HEAD")[:12]
        live = await indexed(services)
        assert set(live) == {f"team@{head2}:deploy.md:1", f"team@{head2}:undo.md:1"}
        assert "ENV=prod" in live[f"team@{head2}:deploy.md:1"]

        # The index is a projection: rebuilt from the events, it is the same.
        await services.projections.rebuild(services.knowledge_projection)
        assert await indexed(services) == live

        [listed] = [s for s in await list_sources(services) if s["name"] == "team"]
        assert listed["kind"] == "git"
        assert listed["license"] == "MIT"
        assert listed["revision"] == git(repo, "rev-parse", "HEAD")
        assert listed["documents"] == 2
        assert listed["last_error"] is None
        assert await remove_source(services, "team") == 2
        await refresh_index(services)
        assert await indexed(services) == {}
        assert [s["name"] for s in await list_sources(services) if s["name"] == "team"] == []


async def test_each_sync_records_what_changed_and_every_process_folds_the_same(
    settings: Settings, tmp_path: Path
) -> None:
    """The first sync stores the fetcher's whole state, later ones what changed of it (a no-op
    sync: nothing); a second SourceSync (a restart, another replica) folds the same source, and
    keeps up with syncs the first makes after it has read."""
    from bot.bootstrap import bootstrap
    from domain.source_sync import stream_of

    pages = {f"docs/{i}.md": f"# Page {i}\n\nText {i}.\n" for i in range(30)}
    repo = make_repo(tmp_path / "repo", dict(pages))
    clock = FixedClock()
    async with bootstrap(settings) as services:
        first = syncing(services, clock)
        await first.add(SourceSpec("team", "git", f"file://{repo}", every_hours=1))
        await first.sync("team")
        commit(repo, {"docs/3.md": "# Page 3\n\nChanged.\n", "docs/4.md": None})
        await first.sync("team")
        await first.sync("team")  # nothing changed since
        synced = [e.payload for e in await services.store.read_stream(stream_of("team"))
                  if e.type == KnowledgeEvents.SOURCE_SYNCED]  # fmt: skip
        assert set(pages) <= set(synced[0]["state"]["blobs"])
        blobs = synced[1]["state_patch"]["entries"]["blobs"]
        assert list(blobs["set"]) == ["docs/3.md"]
        assert blobs["unset"] == ["docs/4.md"]
        assert synced[1]["state_patch"]["set"] == {"commit": git(repo, "rev-parse", "HEAD")}
        assert synced[2]["state_patch"] == {}

        other = syncing(services, clock)
        assert await other.source("team") == await first.source("team")
        commit(repo, {"docs/5.md": None})
        await first.sync("team")
        caught_up = await other.source("team")
        assert caught_up is not None
        assert caught_up == await first.source("team")
        assert "docs/5.md" not in caught_up.state["blobs"]
        assert caught_up.revision == git(repo, "rev-parse", "HEAD")


async def test_the_schedule_syncs_what_is_due_and_backs_off_a_failing_source(
    settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from bot.bootstrap import bootstrap
    from bot.operations.index import refresh_index

    caplog.set_level(logging.DEBUG)
    good = make_repo(tmp_path / "good", {"a.md": "# A\n\nHello a.\n"})
    bad = make_repo(tmp_path / "bad", {"b.md": "# B\n\nHello b.\n"})
    clock = FixedClock()
    async with bootstrap(settings) as services:
        sources = syncing(services, clock)
        await sources.add(SourceSpec("good", "git", f"file://{good}", every_hours=1))
        await sources.add(SourceSpec("bad", "git", f"file://{bad}", every_hours=24))
        await sources.add(SourceSpec("manual", "git", f"file://{good}"))  # no schedule
        await refresh_index(services)
        assert sorted(await sources.due()) == ["bad", "good"]  # never synced: due at once
        assert await sources.sync_due() == {"bad": "ok", "good": "ok"}
        assert await sources.due() == []

        commit(good, {"a.md": "# A\n\nHello again.\n"})
        (bad / ".git").rename(tmp_path / "bad-git")  # the bad repository is gone
        clock.advance(minutes=59)
        assert await sources.due() == []
        clock.advance(minutes=1)
        assert await sources.due() == ["good"]
        clock.advance(hours=23)  # bad is due too now
        outcomes = await sources.sync_due()
        assert outcomes["good"] == "ok"  # the failing one stopped nothing
        assert "git fetch bad failed" in outcomes["bad"]
        failed = await sources.source("bad")
        assert failed is not None
        assert failed.failures == 1
        assert failed.last_error == outcomes["bad"]
        clock.advance(minutes=4)
        assert "bad" not in await sources.due()  # backed off: 5 minutes, then 10, ...
        clock.advance(minutes=1)
        assert await sources.due() == ["bad"]
        with pytest.raises(SourceError):
            await sources.sync("bad")
        failed = await sources.source("bad")
        assert failed is not None
        assert failed.failures == 2
        clock.advance(minutes=9)
        assert await sources.due() == []
        clock.advance(minutes=1)
        assert await sources.due() == ["bad"]

        (tmp_path / "bad-git").rename(bad / ".git")
        assert await sources.sync_due() == {"bad": "ok"}
        healed = await sources.source("bad")
        assert healed is not None
        assert healed.failures == 0
        assert healed.last_error is None
        # What a failed sync had indexed is still there: it removed nothing.
        await refresh_index(services)
        assert any("Hello b" in text for text in (await indexed(services)).values())


async def test_an_unknown_license_is_refused_and_credentials_are_never_stored(
    settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from bot.bootstrap import bootstrap
    from bot.operations.sources import add_source, sync_sources

    caplog.set_level(logging.DEBUG)
    repo = tmp_path / "unlicensed"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    commit(repo, {"a.md": "# A\n\nHello a.\n"})
    async with bootstrap(settings) as services:
        await add_source(services, f"file://{repo}", name="nolicense", license_id=None,
                         include=(), exclude=(), every_hours=None, ref=None)  # fmt: skip
        with pytest.raises(SourceError, match="license of nolicense is unknown"):
            await sync_sources(services, "nolicense")
        await add_source(services, f"file://{repo}", name="given", license_id="CC-BY-4.0",
                         include=(), exclude=(), every_hours=None, ref=None)  # fmt: skip
        [report] = await sync_sources(services, "given")
        assert report.as_json()["documents"]["added"] == 1
        for reserved in ("all", "ALL"):  # `/buddy scope all` must stay unambiguous
            with pytest.raises(SourceError, match="reserved"):
                await add_source(services, f"file://{repo}", name=reserved, license_id="MIT",
                                 include=(), exclude=(), every_hours=None, ref=None)  # fmt: skip
        assert {s.spec.name for s in await services.source_sync().sources()} == {
            "nolicense", "given"}  # fmt: skip

        secret = "https://bot:hunter2secret@127.0.0.1:9/private.git"
        await add_source(services, secret, name="private", license_id="MIT", include=(),
                         exclude=(), every_hours=1, ref=None)  # fmt: skip
        with pytest.raises(SourceError) as failure:
            await sync_sources(services, "private")
        events = await services.store.read_all(0, limit=10_000)
    assert "hunter2secret" not in str(failure.value)
    assert "hunter2secret" not in caplog.text
    assert all("hunter2secret" not in str(e.payload) for e in events)
    added = [e for e in events if e.type == KnowledgeEvents.SOURCE_ADDED]
    assert added[-1].payload["spec"]["origin"] == "https://127.0.0.1:9/private.git"


def test_the_sync_interval_counts_from_the_last_success() -> None:
    from datetime import UTC, datetime

    from domain.source_sync import RegisteredSource

    added = datetime(2026, 1, 1, tzinfo=UTC)
    source = RegisteredSource(SourceSpec("s", "git", "x", every_hours=2), "id", added)
    assert source.next_due() == added
    source.synced_at = added + timedelta(minutes=3)
    assert source.next_due() == added + timedelta(hours=2, minutes=3)


async def test_a_docs_site_added_synced_and_pruned(settings: Settings) -> None:
    from aiohttp import web
    from aiohttp.test_utils import TestServer

    from bot.bootstrap import bootstrap
    from bot.operations.sources import add_source, list_sources, sync_sources

    pages = {
        "/docs/": '<html><body><main><h1>Widget</h1><p>Start with the <a href="install.html">'
        'install guide</a> and <a href="upgrade.html">upgrading</a>.</p></main></body></html>',
        "/docs/install.html": "<html><body><main><h1>Install</h1><h2>Deploy</h2><p>Run make "
        "deploy to install Widget on the staging cluster.</p></main></body></html>",
        "/docs/upgrade.html": "<html><body><main><h1>Upgrade</h1><p>Hello: upgrades roll back "
        "with make rollback.</p></main></body></html>",
    }

    async def page(request: web.Request) -> web.Response:
        found = pages.get(request.path)
        if found is None:
            return web.Response(status=404)
        return web.Response(text=found, content_type="text/html")

    app = web.Application()
    app.router.add_get("/{tail:.*}", page)
    async with TestServer(app, host="127.0.0.1") as server, bootstrap(settings) as services:
        url = f"http://127.0.0.1:{server.port}/docs/"
        with pytest.raises(SourceError, match="--license"):
            await add_source(services, url, name="widget", license_id=None, include=(),
                             exclude=(), every_hours=24, ref=None)  # fmt: skip
        await add_source(services, url, name="widget", license_id="CC-BY-4.0", include=(),
                         exclude=(), every_hours=24, ref=None)  # fmt: skip
        [first] = await sync_sources(services, "widget")
        assert first.as_json()["documents"]["added"] == 3
        live = await indexed(services)
        assert any("make deploy" in text for text in live.values())
        del pages["/docs/upgrade.html"]
        [second] = await sync_sources(services, "widget")
        assert second.as_json()["documents"]["removed"] == 1
        assert not any("make rollback" in text for text in (await indexed(services)).values())
        [listed] = [s for s in await list_sources(services) if s["name"] == "widget"]
    assert listed["kind"] == "web"
    assert listed["license"] == "CC-BY-4.0"
    assert listed["documents"] == 2
