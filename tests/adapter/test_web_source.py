"""The web fetcher against a small documentation site served by aiohttp on a loopback
ephemeral port: Sphinx-like pages with a navigation sidebar, a page that changes, one that
disappears, one that redirects inside the prefix and one that redirects to another host, one
robots.txt forbids, huge, binary and badly encoded pages, a page that fails, a sitemap.
Every request the site sees is recorded, so politeness is asserted on the wire."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from adapters.sources.html_text import decode, html_page
from adapters.sources.web import Scope, WebFetcher, document_path, normalize
from domain.sources import Fetched, SourceError, SourceSpec

LIMIT = 100_000  # the page size cap in these tests
MODIFIED = "Wed, 21 Oct 2015 07:28:00 GMT"
NAV = ["genindex.html", "guide.html", "changing.html", "gone.html", "old.html", "away.html",
       "private/secret.html", "huge.html", "huge-stream.html", "blob", "nul.html", "logo.png",
       "broken.html", "latin.html", "flaky.html", "notes.md", "dated.html", "../outside.html",
       "https://example.org/elsewhere", "mailto:docs@example.org"]  # fmt: skip


def sphinx(title: str, sections: dict[str, str], nav: list[str]) -> str:
    """A page shaped like Sphinx's alabaster theme: related bar, body, sidebar, footer."""
    body = "".join(
        f'<section id="s{i}"><h2>{heading}<a class="headerlink" href="#s{i}">¶</a></h2>'
        f"<p>{text}</p></section>"
        for i, (heading, text) in enumerate(sections.items())
    )
    links = "".join(f'<li class="toctree-l1"><a href="{href}">{href}</a></li>' for href in nav)
    return f"""<!DOCTYPE html><html><head><meta charset="utf-8"><title>{title} - Widget docs</title>
<script src="_static/doctools.js"></script></head><body>
<div class="related" role="navigation"><h3>Navigation</h3><ul><li><a href="genindex.html">index</a>
</li><li><a href="index.html">Widget documentation</a> &raquo;</li></ul></div>
<div class="document"><div class="body" role="main"><section id="top">
<h1>{title}<a class="headerlink" href="#top">¶</a></h1>
<p>This page of the Widget documentation explains {title.lower()} for people new to Widget.</p>
{body}</section></div>
<div class="sphinxsidebar" role="navigation"><h3>Navigation</h3><ul>{links}</ul>
<div id="searchbox" role="search"><h3>Quick search</h3><form action="search.html">
<input type="text" name="q"></form></div></div></div>
<div class="footer">Copyright 2024 Widget authors. Powered by Sphinx.</div></body></html>"""


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    content_type: str = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    stream: bool = False  # chunked, without Content-Length
    modified: str | None = None  # served with Last-Modified instead of an ETag


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    status: int = 0


@dataclass
class Site:
    """A site whose pages a test changes between syncs."""

    pages: dict[str, Reply | Callable[[], Reply]] = field(default_factory=dict)
    requests: list[Seen] = field(default_factory=list)
    auth: str | None = None  # the Authorization header every request must carry
    port: int = 0

    def url(self, path: str = "/docs/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def paths(self) -> list[str]:
        return [seen.path for seen in self.requests]

    def page(self, path: str, title: str, sections: dict[str, str],
             nav: list[str] | None = None) -> None:  # fmt: skip
        html = sphinx(title, sections, nav if nav is not None else ["index.html"])
        self.pages[path] = Reply(body=html.encode())

    async def handle(self, request: web.Request) -> web.StreamResponse:
        seen = Seen(request.path_qs, dict(request.headers))
        self.requests.append(seen)
        response = await self._respond(request)
        seen.status = response.status
        return response

    async def _respond(self, request: web.Request) -> web.StreamResponse:
        if self.auth is not None and request.headers.get("Authorization") != self.auth:
            return web.Response(status=401)
        found = self.pages.get(request.path_qs, self.pages.get(request.path))
        if found is None:
            return web.Response(status=404, text="not found")
        reply = found() if callable(found) else found
        headers = {"Content-Type": reply.content_type, **reply.headers}
        if reply.status != 200:
            return web.Response(status=reply.status, headers=headers, body=reply.body)
        if reply.modified is not None:
            if request.headers.get("If-Modified-Since") == reply.modified:
                return web.Response(status=304)
            headers["Last-Modified"] = reply.modified
        else:
            etag = '"' + hashlib.sha256(reply.body).hexdigest()[:16] + '"'
            if request.headers.get("If-None-Match") == etag:
                return web.Response(status=304, headers={"ETag": etag})
            headers["ETag"] = etag
        if not reply.stream:
            return web.Response(body=reply.body, headers=headers)
        response = web.StreamResponse(headers=headers)
        response.enable_chunked_encoding()
        await response.prepare(request)
        for start in range(0, len(reply.body), 16_384):
            await response.write(reply.body[start : start + 16_384])
        await response.write_eof()
        return response


@dataclass
class Servers:
    site: Site
    other: Site  # another host: a redirect points there


async def serve(site: Site) -> TestServer:
    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", site.handle)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    site.port = server.port or 0
    return server


def redirect(location: str, status: int = 301) -> Reply:
    return Reply(status=status, headers={"Location": location})


def build(site: Site, other: Site) -> None:
    site.pages["/robots.txt"] = Reply(
        body=b"User-agent: *\nDisallow: /docs/private/\n", content_type="text/plain"
    )
    site.page("/docs/", "Widget", {"Overview": "Widget turns gadgets into widgets."}, NAV)
    site.page("/docs/genindex.html", "Index", {"Entries": "An index of every term in Widget."})
    site.page("/docs/guide.html", "Guide", {
        "Install": "Install Widget with pip into a virtual environment.",
        "Configure": "Widget reads widget.toml; the timeout key is in seconds.",
    })  # fmt: skip
    site.page("/docs/changing.html", "Changing", {"Version": "The current version is 1.0."})
    site.page("/docs/gone.html", "Gone", {"Soon": "This page will not last."})
    site.pages["/docs/old.html"] = redirect("/docs/moved.html")
    site.page("/docs/moved.html", "Moved", {"Here": "The page that moved lives here now."})
    site.pages["/docs/away.html"] = redirect(other.url("/elsewhere.html"), 302)
    site.page("/docs/private/secret.html", "Secret", {"Keys": "Nothing for robots."})
    site.pages["/docs/huge.html"] = Reply(body=b"<p>" + b"x" * (LIMIT * 3) + b"</p>")
    site.pages["/docs/huge-stream.html"] = Reply(body=b"<p>" + b"y" * (LIMIT * 3), stream=True)
    site.pages["/docs/blob"] = Reply(body=bytes(range(256)) * 8,
                                     content_type="application/octet-stream")  # fmt: skip
    site.pages["/docs/nul.html"] = Reply(body=b"<html>\0\0\0\x01\x02</html>")
    site.pages["/docs/logo.png"] = Reply(body=b"\x89PNG", content_type="image/png")
    site.pages["/docs/broken.html"] = Reply(
        body=b"<html><body><h1>Broken</h1><p>caf\xc3\xa9 then \xff\xfe bytes, still read.</p>"
        b"</body></html>"
    )
    latin = '<html><head><meta charset="iso-8859-1"></head><body><h1>Latin</h1><p>Un café crème.'
    site.pages["/docs/latin.html"] = Reply(
        body=(latin + "</p></body></html>").encode("latin-1"), content_type="text/html"
    )
    site.page("/docs/flaky.html", "Flaky", {"Mood": "Sometimes this page fails."})
    site.pages["/docs/notes.md"] = Reply(
        body=b"# Notes\n\n## Tips\n\nKeep widgets dry.\n", content_type="text/markdown"
    )
    dated = sphinx("Dated", {"When": "A server that only knows dates."}, ["index.html"])
    site.pages["/docs/dated.html"] = Reply(body=dated.encode(), modified=MODIFIED)
    site.page("/outside.html", "Outside", {"Elsewhere": "Not in the prefix."})
    other.page("/elsewhere.html", "Elsewhere", {"Away": "Another host."})


@pytest.fixture
async def servers() -> AsyncIterator[Servers]:
    site, other = Site(), Site()
    running = [await serve(site), await serve(other)]
    build(site, other)
    yield Servers(site, other)
    for server in running:
        await server.close()


def spec(origin: str, **extra: Any) -> SourceSpec:
    return SourceSpec("widget-docs", "web", origin, license="CC-BY-4.0", **extra)


def fetcher(**extra: Any) -> WebFetcher:
    settings: dict[str, Any] = {"min_interval_s": 0.0, "timeout_s": 5.0,
                                "max_page_bytes": LIMIT, **extra}  # fmt: skip
    return WebFetcher(**settings)


def by_path(fetched: Fetched) -> dict[str, str]:
    return {f.relative_path: f.text for f in fetched.files}


READABLE = {"index.md", "genindex.md", "guide.md", "changing.md", "gone.md", "moved.md",
            "broken.md", "latin.md", "flaky.md", "notes.md", "dated.md"}  # fmt: skip


async def test_first_sync_reads_every_page_with_headings_kept_and_navigation_dropped(
    servers: Servers,
) -> None:
    fetched = await fetcher().fetch(spec(servers.site.url()), None)

    pages = by_path(fetched)
    assert set(pages) == READABLE
    guide = pages["guide.md"]
    assert guide.startswith("# Guide\n")
    assert "## Install\n\nInstall Widget with pip" in guide
    assert "## Configure" in guide
    for chrome in ("Quick search", "Navigation", "Powered by Sphinx", "¶", "changing.html"):
        assert chrome not in guide
    assert pages["notes.md"] == "# Notes\n\n## Tips\n\nKeep widgets dry."  # Markdown as served
    assert fetched.deleted == []
    assert fetched.complete is False
    assert all(len(f.content_hash) == 64 for f in fetched.files)
    assert len(fetched.revision) == 16
    json.dumps(fetched.state)  # JSON only
    assert fetched.state["pages"][servers.site.url("/docs/guide.html")]["path"] == "guide.md"
    assert fetched.skipped["outside_prefix"] == 2  # ../outside.html and example.org


async def test_second_sync_asks_conditionally_and_returns_only_the_changed_page(
    servers: Servers,
) -> None:
    site, web_fetcher = servers.site, fetcher()
    first = await web_fetcher.fetch(spec(site.url()), None)
    site.page("/docs/changing.html", "Changing", {"Version": "The current version is 2.0."})
    site.requests.clear()

    second = await web_fetcher.fetch(spec(site.url()), first.state)

    assert list(by_path(second)) == ["changing.md"]
    assert "version is 2.0" in by_path(second)["changing.md"]
    assert second.deleted == []
    guide = next(seen for seen in site.requests if seen.path == "/docs/guide.html")
    assert guide.headers.get("If-None-Match") == first.state["pages"][site.url(
        "/docs/guide.html")]["etag"]  # fmt: skip
    assert guide.status == 304
    dated = next(seen for seen in site.requests if seen.path == "/docs/dated.html")
    assert (dated.headers.get("If-Modified-Since"), dated.status) == (MODIFIED, 304)
    index = next(seen for seen in site.requests if seen.path == "/docs/")
    assert index.status == 304  # its links were remembered: the pages it lists are still read
    assert second.revision != first.revision
    third = await web_fetcher.fetch(spec(site.url()), second.state)
    assert (third.files, third.deleted, third.revision) == ([], [], second.revision)


async def test_a_page_that_disappears_is_deleted(servers: Servers) -> None:
    web_fetcher = fetcher()
    first = await web_fetcher.fetch(spec(servers.site.url()), None)
    del servers.site.pages["/docs/gone.html"]  # still linked: it answers 404

    second = await web_fetcher.fetch(spec(servers.site.url()), first.state)

    assert second.deleted == ["gone.md"]
    assert second.files == []
    assert servers.site.url("/docs/gone.html") not in second.state["pages"]


async def test_a_page_no_longer_linked_is_deleted_without_being_asked_for(
    servers: Servers,
) -> None:
    site, web_fetcher = servers.site, fetcher()
    first = await web_fetcher.fetch(spec(site.url()), None)
    nav = [href for href in NAV if href != "gone.html"]
    site.page("/docs/", "Widget", {"Overview": "Widget turns gadgets into widgets."}, nav)
    site.requests.clear()

    second = await web_fetcher.fetch(spec(site.url()), first.state)

    assert second.deleted == ["gone.md"]
    assert list(by_path(second)) == []  # the index page's text did not change
    assert "/docs/gone.html" not in site.paths()


async def test_redirects_are_followed_inside_the_prefix_and_not_to_another_host(
    servers: Servers,
) -> None:
    fetched = await fetcher().fetch(spec(servers.site.url()), None)

    assert "moved.md" in by_path(fetched)
    assert "old.md" not in by_path(fetched)
    assert fetched.state["pages"][servers.site.url("/docs/moved.html")]["path"] == "moved.md"
    assert fetched.skipped["redirected_outside"] == 1
    assert servers.other.requests == []


async def test_robots_txt_is_obeyed(servers: Servers) -> None:
    fetched = await fetcher().fetch(spec(servers.site.url()), None)

    assert servers.site.paths()[0] == "/robots.txt"
    assert not any(path.startswith("/docs/private/") for path in servers.site.paths())
    assert fetched.skipped["robots"] == 1
    servers.site.pages["/robots.txt"] = Reply(body=b"User-agent: BuddyBot\nDisallow: /docs/\n",
                                              content_type="text/plain")  # fmt: skip
    with pytest.raises(SourceError, match=r"robots\.txt forbids"):
        await fetcher().fetch(spec(servers.site.url()), None)


class FakeTime:
    """A clock that moves only when the fetcher sleeps: every wait it asks for is recorded."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


async def test_requests_to_a_host_keep_the_minimum_interval(servers: Servers) -> None:
    fake = FakeTime()
    paced = fetcher(min_interval_s=0.5, clock=fake.clock, sleep=fake.sleep)

    await paced.fetch(spec(servers.site.url()), None)

    assert len(servers.site.requests) > 10
    assert fake.sleeps == [0.5] * (len(servers.site.requests) - 1)


async def test_a_crawl_delay_in_robots_txt_slows_the_crawl(servers: Servers) -> None:
    servers.site.pages["/robots.txt"] = Reply(body=b"User-agent: *\nCrawl-delay: 2\n",
                                              content_type="text/plain")  # fmt: skip
    fake = FakeTime()
    paced = fetcher(min_interval_s=0.5, clock=fake.clock, sleep=fake.sleep)

    await paced.fetch(spec(servers.site.url()), None)

    assert fake.sleeps == [2.0] * (len(servers.site.requests) - 1)


async def test_huge_and_binary_pages_are_skipped(servers: Servers) -> None:
    fetched = await fetcher().fetch(spec(servers.site.url()), None)

    assert fetched.skipped["huge"] == 2  # one says its length, one is streamed
    assert fetched.skipped["binary"] == 3  # by its type, by its NUL bytes, by its suffix
    assert "/docs/logo.png" not in servers.site.paths()
    for name in ("huge.md", "huge-stream.md", "blob.md", "nul.md", "logo.md"):
        assert name not in by_path(fetched)


async def test_broken_encoding_is_decoded_with_replacement(servers: Servers) -> None:
    pages = by_path(await fetcher().fetch(spec(servers.site.url()), None))

    assert "café then \ufffd\ufffd bytes, still read." in pages["broken.md"]
    assert "Un café crème." in pages["latin.md"]  # the <meta charset>, no header charset


async def test_an_unreachable_start_url_fails_the_sync(servers: Servers) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    state = (await fetcher().fetch(spec(servers.site.url()), None)).state

    with pytest.raises(SourceError, match="unreachable"):
        await fetcher().fetch(spec(f"http://127.0.0.1:{port}/docs/"), state)
    del servers.site.pages["/docs/"]
    with pytest.raises(SourceError, match="404"):
        await fetcher().fetch(spec(servers.site.url()), state)


async def test_a_failing_page_is_skipped_and_kept(servers: Servers) -> None:
    site, web_fetcher = servers.site, fetcher()
    first = await web_fetcher.fetch(spec(site.url()), None)
    site.pages["/docs/flaky.html"] = Reply(status=500, body=b"oops")

    second = await web_fetcher.fetch(spec(site.url()), first.state)

    assert second.skipped["error"] == 1
    assert second.deleted == []
    assert second.files == []
    assert second.revision == first.revision
    flaky = site.url("/docs/flaky.html")
    assert second.state["pages"][flaky] == first.state["pages"][flaky]


async def test_a_sitemap_lists_the_pages(servers: Servers) -> None:
    site = servers.site
    urlset = ('<?xml version="1.0" encoding="UTF-8"?>'
              '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
              f"<url><loc>{site.url('/docs/guide.html')}</loc></url>"
              f"<url><loc>{site.url('/docs/old.html')}</loc><lastmod>2024-01-01</lastmod></url>"
              f"<url><loc>{site.url('/outside.html')}</loc></url></urlset>")  # fmt: skip
    site.pages["/docs/sitemap-pages.xml"] = Reply(body=urlset.encode(), content_type="text/xml")
    index = ('<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
             f"<sitemap><loc>{site.url('/docs/sitemap-pages.xml')}</loc></sitemap>"
             "</sitemapindex>")  # fmt: skip
    site.pages["/docs/sitemap.xml"] = Reply(body=index.encode(), content_type="application/xml")

    for origin in ("/docs/sitemap-pages.xml", "/docs/sitemap.xml"):
        fetched = await fetcher().fetch(spec(site.url(origin)), None)
        assert set(by_path(fetched)) == {"guide.md", "moved.md"}
        assert fetched.skipped["outside_prefix"] == 1
    assert "/docs/changing.html" not in site.paths()  # linked, but a sitemap is the list
    site.pages["/docs/sitemap.xml"] = Reply(body=b"<html>not a sitemap", content_type="text/xml")
    with pytest.raises(SourceError, match="not a sitemap"):
        await fetcher().fetch(spec(site.url("/docs/sitemap.xml")), None)


async def test_credentials_in_the_start_url_never_reach_state_or_logs(
    servers: Servers, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    site = servers.site
    site.auth = "Basic " + base64.b64encode(b"reader:s3cret-pw").decode()
    origin = site.url().replace("http://", "http://reader:s3cret-pw@")

    fetched = await fetcher().fetch(spec(origin), None)
    site.pages["/docs/flaky.html"] = Reply(status=500)
    again = await fetcher().fetch(spec(origin), fetched.state)

    assert "guide.md" in by_path(fetched)
    assert all(seen.headers.get("Authorization") == site.auth for seen in site.requests)
    assert servers.other.requests == []
    for text in (json.dumps(fetched.state), json.dumps(again.state), caplog.text,
                 *(record.getMessage() for record in caplog.records)):  # fmt: skip
        assert "s3cret" not in text
        assert "reader" not in text
    assert fetched.state["origin"] == site.url()
    with pytest.raises(SourceError) as failed:
        await fetcher().fetch(spec(origin.replace(str(site.port), "1")), None)
    assert "s3cret" not in str(failed.value)


async def test_globs_choose_what_is_fetched_and_what_is_indexed(servers: Servers) -> None:
    fetched = await fetcher().fetch(
        spec(servers.site.url(), include=("guide*", "changing.html"), exclude=("gone.html",)),
        None,
    )

    assert set(by_path(fetched)) == {"guide.md", "changing.md"}
    assert "/docs/gone.html" not in servers.site.paths()  # excluded: never fetched
    assert fetched.skipped["excluded"] == 1
    assert fetched.skipped["not_included"] >= 1  # read for links, not indexed


async def test_a_page_cap_keeps_what_was_not_reached(servers: Servers) -> None:
    first = await fetcher().fetch(spec(servers.site.url()), None)
    capped = await fetcher(max_pages=3).fetch(spec(servers.site.url()), first.state)

    assert capped.deleted == []
    assert capped.skipped["page_cap"] > 0
    assert set(capped.state["pages"]) == set(first.state["pages"])


def test_document_paths_are_safe_and_stable() -> None:
    assert document_path("") == "index.md"
    assert document_path("guide/") == "guide/index.md"
    assert document_path("guide/install.html") == "guide/install.md"
    assert document_path("a b/ü.htm") == "a-b/ü.md"
    assert document_path("../../etc/passwd") == "etc/passwd.md"
    assert document_path(".hidden/x.txt") == "_hidden/x.md"
    assert document_path("api", "page=2") == document_path("api", "page=2") != "api.md"
    scope = Scope.of("https://docs.example.org/widget/index.html")
    assert str(scope) == "https://docs.example.org/widget/"
    assert scope.contains("https://docs.example.org/widget")
    assert not scope.contains("https://docs.example.org/widgets/x.html")
    assert str(Scope.of("https://docs.example.org/widget")) == "https://docs.example.org/widget/"
    assert normalize("HTTPS://u:p@Docs.Example.org:443/a#b") == "https://docs.example.org/a"
    assert normalize("http://h:8080") == "http://h:8080/"
    assert normalize("mailto:x@example.org") is None


def test_html_text_keeps_headings_of_a_bare_page_and_reads_meta_robots() -> None:
    bare = (
        '<html><body><p><a href="/">Home</a> | <a href="/team/">Team</a></p>'
        "<h1>Runbook</h1><p>Page the secondary after fifteen minutes.</p>"
        "<h2>Failover</h2><p>Promote the replica with the script.</p></body></html>"
    )
    page = html_page(bare, "https://h/docs/runbook.html")
    assert page.text.splitlines()[0] == "# Runbook"
    assert "## Failover" in page.text
    assert page.links == ["https://h/", "https://h/team/"]
    hidden = html_page(
        '<html><head><meta name="robots" content="noindex, nofollow"></head>'
        '<body><h1>X</h1><p>y</p><a href="z">z</a></body></html>',
        "https://h/",
    )
    assert (hidden.index, hidden.follow, hidden.links) == (False, False, [])
    assert decode(b"caf\xe9", "windows-1252") == "café"
    assert decode(b"caf\xc3\xa9", None) == "café"
