"""A documentation site as a source: a polite crawler over aiohttp.

The source is a start URL, whose folder is the prefix the crawl stays in (`/docs/` for
`https://host/docs/` or `https://host/docs/index.html`), or a sitemap (an origin ending in
`.xml`: its `urlset`, or a `sitemapindex` one level deep, lists the pages). From a start URL
the crawl follows `<a href>` links inside the prefix, breadth first, up to a page and a depth
cap. Include globs choose the pages indexed (the others are still read for their links);
exclude globs choose pages never fetched. Both match the URL path, relative to the prefix or
whole.

Politeness: robots.txt (user agent "BuddyBot", its Crawl-delay honoured up to 30 s), one
request at a time with a minimum interval per host, conditional requests (If-None-Match,
If-Modified-Since) from the previous sync's ETag and Last-Modified, a size cap per page, only
text/html (text/markdown and text/plain as they are), redirects followed only inside the
prefix (a page is recorded under its final URL).

Each page becomes `<path relative to the prefix>.md` holding its main content as Markdown
(see html_text.py). A page answering 304 keeps what the index has; one that answers 404 or
410, or that nothing links to any more, is deleted; one that fails (timeout, 5xx, too big,
binary) is skipped, counted, and kept as it was. A start URL or sitemap that cannot be read
fails the whole sync (SourceError), which changes nothing. Credentials in the origin are sent
as HTTP Basic to its host only, and never stored or logged."""

from __future__ import annotations

import asyncio
import base64
import logging
import time
import xml.etree.ElementTree as ElementTree
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatch
from typing import Any, Literal
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

import aiohttp

from adapters.sources.html_text import Page, decode, html_page
from adapters.sources.robots import ROBOTS_MAX_BYTES, Robots, robots_from, robots_unreadable
from domain.ingestion import SourceFile, digest
from domain.sources import Fetched, SourceError, SourceSpec, without_credentials

log = logging.getLogger(__name__)

USER_AGENT = "BuddyBot"
STATE_VERSION = 1
SITEMAP_MAX_BYTES = 10_000_000
_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_TEXT_TYPES = frozenset({"text/markdown", "text/x-markdown", "text/plain"})
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
# Links whose suffix says what they hold are not fetched at all.
_NOT_PAGES: dict[str, str] = {
    **dict.fromkeys(
        (".png", ".jpg", ".jpeg", ".gif", ".webp", ".svg", ".ico", ".bmp", ".pdf", ".zip",
         ".gz", ".tgz", ".bz2", ".xz", ".7z", ".tar", ".whl", ".egg", ".jar", ".exe", ".dmg",
         ".msi", ".deb", ".rpm", ".woff", ".woff2", ".ttf", ".otf", ".eot", ".mp3", ".mp4",
         ".webm", ".mov", ".avi", ".ogg", ".wav"),
        "binary",
    ),
    **dict.fromkeys((".css", ".js", ".mjs", ".map", ".json", ".xml", ".rss", ".atom"), "not_html"),
}  # fmt: skip
# What a page's URL may end with that its document path drops ("install.html" -> "install.md").
_PAGE_SUFFIXES = frozenset(
    {".html", ".htm", ".xhtml", ".shtml", ".md", ".markdown", ".txt", ".php", ".asp", ".aspx"}
)

Sleep = Callable[[float], Awaitable[None]]


# -- URLs ------------------------------------------------------------------------------------


def normalize(url: str) -> str | None:
    """An absolute http(s) URL as the crawler keys it: no credentials, no fragment, scheme and
    host in lower case, no default port, "/" for an empty path. None for anything else."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = parts.hostname
    if scheme not in ("http", "https") or not host:
        return None
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != {"http": 80, "https": 443}[scheme]:
        netloc = f"{netloc}:{port}"
    return urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))


@dataclass(frozen=True)
class Scope:
    """Where a crawl stays: one scheme and host, and a path prefix ending in "/"."""

    scheme: str
    netloc: str
    prefix: str

    @classmethod
    def of(cls, url: str) -> Scope:
        parts = urlsplit(url)
        path = parts.path or "/"
        if not path.endswith("/"):
            last = path.rsplit("/", 1)[1]
            path = path.rsplit("/", 1)[0] + "/" if "." in last else path + "/"
        return cls(parts.scheme, parts.netloc, path)

    def __str__(self) -> str:
        return f"{self.scheme}://{self.netloc}{self.prefix}"

    def contains(self, url: str) -> bool:
        parts = urlsplit(url)
        path = parts.path or "/"
        return (
            (parts.scheme, parts.netloc) == (self.scheme, self.netloc)
            and (path.startswith(self.prefix) or path == self.prefix.rstrip("/"))
        )  # fmt: skip

    def relative(self, url: str) -> str:
        """The URL's path under the prefix, decoded: "guide/install.html", "" for the prefix."""
        return unquote(urlsplit(url).path[len(self.prefix) :])


def document_path(relative: str, query: str = "") -> str:
    """A page's document path: safe segments, "index" for a folder, ".md" for the suffix."""
    segments = [_safe_segment(s) for s in relative.split("/") if s not in ("", ".", "..")]
    if not segments or relative.endswith("/"):
        segments.append("index")
    stem, dot, suffix = segments[-1].rpartition(".")
    name = stem if dot and stem and f".{suffix.lower()}" in _PAGE_SUFFIXES else segments[-1]
    if query:
        name = f"{name}-{digest('query', query, length=8)}"
    segments[-1] = f"{name}.md"
    return "/".join(segments)


def _safe_segment(segment: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in segment)[:120]
    return "_" + safe[1:] if safe.startswith(".") else safe


def _suffix_reason(url: str) -> str | None:
    name = urlsplit(url).path.rsplit("/", 1)[-1].lower()
    dot = name.rfind(".")
    return _NOT_PAGES.get(name[dot:]) if dot > 0 else None


def _matches(globs: Iterable[str], scope: Scope, url: str) -> bool:
    paths = (scope.relative(url), unquote(urlsplit(url).path))
    return any(fnmatch(path, glob) for glob in globs for path in paths)


# -- HTTP ------------------------------------------------------------------------------------


class HostPacer:
    """At least `interval` seconds between the starts of two requests to one host."""

    def __init__(self, interval: float, clock: Callable[[], float], sleep: Sleep) -> None:
        self._interval = interval
        self._clock = clock
        self._sleep = sleep
        self._slower: dict[str, float] = {}
        self._last: dict[str, float] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def slow_down(self, host: str, interval: float) -> None:
        self._slower[host] = interval

    async def wait(self, host: str) -> None:
        async with self._locks.setdefault(host, asyncio.Lock()):
            interval = max(self._interval, self._slower.get(host, 0.0))
            last = self._last.get(host)
            if last is not None and (delay := last + interval - self._clock()) > 0:
                await self._sleep(delay)
            self._last[host] = self._clock()


AnswerKind = Literal["page", "not_modified", "redirect", "gone", "skip"]


@dataclass(frozen=True)
class Answer:
    """One HTTP exchange, read as far as the crawler needs."""

    kind: AnswerKind
    status: int | None = None  # None: no answer at all
    body: bytes = b""
    media: Literal["html", "text"] = "html"
    charset: str | None = None
    etag: str | None = None
    modified: str | None = None
    location: str | None = None
    reason: str = "error"  # for "skip": huge, binary, not_html, error
    detail: str = ""  # what went wrong, for people


class Http:
    """One sync's session: paced, size-capped, Basic auth for the origin's host only."""

    def __init__(
        self, session: aiohttp.ClientSession, pacer: HostPacer, auth: tuple[str, str] | None,
        timeout_s: float,
    ) -> None:  # fmt: skip
        self._session = session
        self._pacer = pacer
        self._auth = auth  # (host, Authorization header value)
        self._timeout_s = timeout_s

    async def get(
        self, url: str, headers: Mapping[str, str], limit: int, *, any_type: bool = False
    ) -> Answer:
        """GET without following redirects. `any_type`: read whatever the type (robots.txt,
        sitemaps), and keep the first `limit` bytes of a longer body instead of refusing."""
        host = urlsplit(url).netloc
        await self._pacer.wait(host)
        sent = dict(headers)
        if self._auth is not None and self._auth[0] == host:
            sent["Authorization"] = self._auth[1]
        try:
            async with self._session.get(url, headers=sent, allow_redirects=False) as response:
                return await self._read(response, limit, any_type)
        except TimeoutError:
            return Answer("skip", detail=f"no answer within {self._timeout_s:g} s")
        except aiohttp.ClientConnectorError as error:
            said = error.os_error.strerror or str(error.os_error)
            return Answer("skip", detail=f"cannot connect to {host}: {said}")
        except (aiohttp.ClientError, OSError, ValueError) as error:
            return Answer("skip", detail=f"{type(error).__name__}: {error}"[:300])

    @staticmethod
    async def _read(response: aiohttp.ClientResponse, limit: int, any_type: bool) -> Answer:
        status = response.status
        if status == 304:
            return Answer("not_modified", status)
        if status in _REDIRECTS:
            location = response.headers.get("Location")
            if location:
                return Answer("redirect", status, location=location)
            return Answer("skip", status, detail=f"HTTP {status} without a Location")
        if status in (404, 410):
            return Answer("gone", status)
        if not 200 <= status < 300:
            return Answer("skip", status, detail=f"HTTP {status}")
        declared = response.headers.get("Content-Type")
        media = "html" if any_type else _media(response.content_type if declared else None)
        if media in ("binary", "not_html"):
            return Answer("skip", status, reason=media, detail=f"served as {declared}")
        length = response.content_length
        if length is not None and length > limit and not any_type:
            return Answer("skip", status, reason="huge", detail=f"{length} bytes")
        body = bytearray()
        async for chunk in response.content.iter_chunked(65_536):
            body += chunk
            if len(body) > limit:
                if not any_type:
                    return Answer("skip", status, reason="huge", detail=f"over {limit} bytes")
                del body[limit:]
                break
        if not any_type and b"\0" in body[:8192]:
            return Answer("skip", status, reason="binary", detail="NUL bytes in a text page")
        return Answer(
            "page", status, bytes(body), "text" if media == "text" else "html",
            response.charset, response.headers.get("ETag"), response.headers.get("Last-Modified"),
        )  # fmt: skip


def _media(content_type: str | None) -> str:
    """html, text, binary or not_html; a missing type is read as HTML (NUL bytes still tell)."""
    if content_type is None or content_type in _HTML_TYPES:
        return "html"
    if content_type in _TEXT_TYPES:
        return "text"
    if content_type.startswith("text/") or content_type.endswith(("+xml", "/xml", "json")):
        return "not_html"
    return "not_html" if content_type.endswith("javascript") else "binary"


def _basic_auth(url: str) -> tuple[str, str] | None:
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return None
    pair = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}"
    host = urlsplit(normalize(url) or "").netloc
    return host, "Basic " + base64.b64encode(pair.encode()).decode()


# -- State -----------------------------------------------------------------------------------


@dataclass
class Entry:
    """A URL read as a page: indexed when it has a path, else read only for its links."""

    path: str | None = None
    hash: str | None = None
    etag: str | None = None
    modified: str | None = None
    links: list[str] = field(default_factory=list)  # normalized, inside the prefix

    def conditional(self) -> dict[str, str]:
        headers = {}
        if self.etag:
            headers["If-None-Match"] = self.etag
        if self.modified:
            headers["If-Modified-Since"] = self.modified
        return headers


def load_state(previous: Mapping[str, Any] | None) -> dict[str, Entry]:
    """URL -> entry from the previous sync's state; {} when there is none (or of another
    version)."""
    if not previous or previous.get("version") != STATE_VERSION:
        return {}
    links: list[str] = list(previous.get("links") or [])
    entries: dict[str, Entry] = {}
    for url, saved in (previous.get("pages") or {}).items():
        entries[url] = Entry(
            saved.get("path"), saved.get("hash"), saved.get("etag"), saved.get("modified"),
            [links[i] for i in saved.get("links") or () if 0 <= i < len(links)],
        )  # fmt: skip
    return entries


def dump_state(origin: str, entries: Mapping[str, Entry]) -> dict[str, Any]:
    """JSON for the next sync; links are indexes into one shared list, to stay small."""
    links = sorted({link for entry in entries.values() for link in entry.links})
    position = {link: i for i, link in enumerate(links)}
    pages: dict[str, Any] = {}
    for url, entry in sorted(entries.items()):
        saved = {"path": entry.path, "hash": entry.hash, "etag": entry.etag,
                 "modified": entry.modified,
                 "links": sorted({position[link] for link in entry.links})}  # fmt: skip
        pages[url] = {key: value for key, value in saved.items() if value}
    return {"version": STATE_VERSION, "origin": origin, "links": links, "pages": pages}


# -- The crawl -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Limits:
    max_page_bytes: int
    max_pages: int
    max_depth: int
    max_redirects: int


class Crawl:
    """One sync of one site."""

    def __init__(
        self, spec: SourceSpec, start: str, http: Http, limits: Limits, user_agent: str,
        previous: dict[str, Entry], pacer: HostPacer, min_interval: float,
    ) -> None:  # fmt: skip
        self.spec = spec
        self.start = start
        self.scope = Scope.of(start)
        self.http = http
        self.limits = limits
        self.user_agent = user_agent
        self.previous = previous
        self.pacer = pacer
        self.min_interval = min_interval
        self.entries: dict[str, Entry] = {}  # this sync's pages, by final URL
        self.texts: dict[str, str] = {}  # the text of pages read (not 304) this sync
        self.skipped: Counter[str] = Counter()
        self.requested: set[str] = set()
        self.robots: Robots | None = None
        self.truncated = False
        self.follow_links = True  # False for a sitemap: it lists every page
        self._hashes: set[str] = set()
        self._outside: set[str] = set()  # links out of the prefix, counted once each

    # The two ways in.

    async def from_links(self) -> None:
        await self._read_robots()
        if (reason := self.refusal(self.start)) is not None:
            raise SourceError(self._refused_start(reason))
        queue: deque[tuple[str, int]] = deque([(self.start, 0)])
        queued = {self.start}
        while queue:
            url, depth = queue.popleft()
            if url in self.requested:
                continue
            if len(self.requested) >= self.limits.max_pages:
                self._truncate(len(queue) + 1)
                return
            links = await self.visit(url, first=url == self.start)
            for link in links:
                if link in queued:
                    continue
                queued.add(link)
                if depth + 1 > self.limits.max_depth:
                    self.skipped["too_deep"] += 1
                elif (reason := self.refusal(link)) is not None:
                    self.skipped[reason] += 1
                else:
                    queue.append((link, depth + 1))

    async def from_sitemap(self) -> None:
        self.follow_links = False
        await self._read_robots()
        listed = await self._sitemap_urls()
        for position, url in enumerate(listed):
            if (reason := self.refusal(url)) is not None:
                self.skipped[reason] += 1
            elif len(self.requested) >= self.limits.max_pages:
                self._truncate(len(listed) - position)
                return
            elif url not in self.requested:
                await self.visit(url, first=False)

    # One page.

    def refusal(self, url: str) -> str | None:
        """Why a URL is not fetched (outside_prefix, binary, excluded, robots), or None."""
        if not self.scope.contains(url):
            return "outside_prefix"
        if (reason := _suffix_reason(url)) is not None:
            return reason
        if self.spec.exclude and _matches(self.spec.exclude, self.scope, url):
            return "excluded"
        if self.robots is not None and not self.robots.allows(url):
            return "robots"
        return None

    async def visit(self, url: str, *, first: bool) -> list[str]:
        """Read one URL (following redirects in the prefix); the links to follow from it."""
        followed = await self._follow(url, first)
        if followed is None:
            return []
        final, answer = followed
        before = self.previous.get(final)
        if answer.kind == "page":
            return await self._page(final, answer, before)
        if answer.kind == "not_modified" and before is not None:
            self.entries[final] = before
            if before.hash:
                self._hashes.add(before.hash)
            return before.links
        if first:
            raise SourceError(_unreadable(final, answer))
        if answer.kind == "gone":
            if before is None:
                self.skipped["not_found"] += 1
            return []
        reason = answer.reason if answer.kind == "skip" else "error"
        detail = answer.detail or f"HTTP {answer.status} to a request that was not conditional"
        log.info("web source %s: skipped %s (%s: %s)", self.spec.name, final, reason, detail)
        self.skipped[reason] += 1
        if before is None:
            return []
        self.entries[final] = before  # kept as the index has it: a failed read loses nothing
        return before.links

    async def _follow(self, url: str, first: bool) -> tuple[str, Answer] | None:
        for _ in range(self.limits.max_redirects + 1):
            self.requested.add(url)
            before = self.previous.get(url)
            headers = before.conditional() if before is not None else {}
            answer = await self.http.get(url, headers, self.limits.max_page_bytes)
            if answer.kind != "redirect":
                return url, answer
            target = normalize(urljoin(url, answer.location or ""))
            reason = "redirected_outside" if target is None else self.refusal(target)
            if reason == "outside_prefix":
                reason = "redirected_outside"
            if reason is not None:
                if first:
                    raise SourceError(
                        f"{url} redirects to {without_credentials(target or '?')}, which is not"
                        f" read ({reason}, the prefix is {self.scope}): add that URL instead"
                    )
                self.skipped[reason] += 1
                return None
            assert target is not None
            if target in self.requested:
                return None  # read already, under its own URL
            url = target
        if first:
            raise SourceError(f"{url}: more than {self.limits.max_redirects} redirects")
        self.skipped["error"] += 1
        return None

    async def _page(self, url: str, answer: Answer, before: Entry | None) -> list[str]:
        page = await asyncio.to_thread(_page_of, answer, url)
        inside: list[str] = []
        if self.follow_links:
            links = sorted({n for link in page.links if (n := normalize(link)) is not None})
            inside = [link for link in links if self.scope.contains(link)]
            self._outside.update(link for link in links if not self.scope.contains(link))
        entry = Entry(None, None, answer.etag, answer.modified, inside)
        self.entries[url] = entry
        if not page.index:
            self.skipped["noindex"] += 1
        elif self.spec.include and not _matches(self.spec.include, self.scope, url):
            self.skipped["not_included"] += 1
        elif not page.text.strip():
            self.skipped["empty"] += 1
        else:
            entry.hash = digest("page", page.text, length=64)
            if entry.hash in self._hashes:
                self.skipped["duplicate"] += 1
                entry.hash = None
            else:
                self._hashes.add(entry.hash)
                self.texts[url] = page.text
                entry.path = before.path if before is not None else None
        return inside

    def _truncate(self, left: int) -> None:
        self.truncated = True
        self.skipped["page_cap"] += left
        log.warning("web source %s: stopped at %d pages; %d more not read this sync",
                    self.spec.name, self.limits.max_pages, left)  # fmt: skip

    def _refused_start(self, reason: str) -> str:
        if reason != "robots" or self.robots is None:
            return f"{self.start} is not read ({reason})"
        why = f" ({self.robots.refusal})" if self.robots.refusal else ""
        return f"robots.txt forbids {self.start} to {self.user_agent}{why}"

    # robots.txt and sitemaps.

    async def _read_robots(self) -> None:
        url = f"{self.scope.scheme}://{self.scope.netloc}/robots.txt"
        for _ in range(self.limits.max_redirects + 1):
            answer = await self.http.get(url, {}, ROBOTS_MAX_BYTES, any_type=True)
            if answer.status is None:
                if urlsplit(url).netloc == self.scope.netloc:
                    raise SourceError(f"{self.start} is unreachable: {answer.detail}")
                self.robots = robots_unreadable(self.user_agent, answer.detail)
                return
            if answer.kind != "redirect":
                text = answer.body.decode("utf-8", errors="replace")
                self.robots = robots_from(self.user_agent, answer.status, text)
                delay = self.robots.delay()
                if delay is not None and delay > self.min_interval:
                    self.pacer.slow_down(self.scope.netloc, delay)
                return
            url = normalize(urljoin(url, answer.location or "")) or url
        self.robots = robots_unreadable(self.user_agent, "too many redirects")

    async def _sitemap_urls(self) -> list[str]:
        kind, found = await self._sitemap(self.start)
        if kind == "urlset":
            return found
        listed: list[str] = []
        for child in found:
            if urlsplit(child).netloc != self.scope.netloc:
                self.skipped["outside_prefix"] += 1
                continue
            child_kind, urls = await self._sitemap(child)
            if child_kind == "urlset":  # an index in an index is not read: one level only
                listed.extend(urls)
        return list(dict.fromkeys(listed))

    async def _sitemap(self, url: str) -> tuple[str, list[str]]:
        """("urlset" or "sitemapindex", the locations it lists, normalized)."""
        if self.robots is not None and not self.robots.allows(url):
            why = f" ({self.robots.refusal})" if self.robots.refusal else ""
            raise SourceError(f"robots.txt forbids {url} to {self.user_agent}{why}")
        answer = await self.http.get(url, {}, SITEMAP_MAX_BYTES, any_type=True)
        if answer.kind != "page":
            raise SourceError(_unreadable(url, answer))
        try:
            root = ElementTree.fromstring(answer.body)
        except ElementTree.ParseError as error:
            raise SourceError(f"{url} is not a sitemap: {error}") from None
        kind = _local_name(root.tag)
        if kind not in ("urlset", "sitemapindex"):
            raise SourceError(f"{url} is not a sitemap: its root is <{kind}>")
        locations = (  # <url><loc> or <sitemap><loc>; not <image:loc> and the like
            (element.text or "").strip()
            for entry in root for element in entry if _local_name(element.tag) == "loc"
        )  # fmt: skip
        return kind, [n for loc in locations if (n := normalize(loc)) is not None]

    # The result.

    def result(self, origin: str) -> Fetched:
        if self.truncated:  # what this sync did not reach is kept, not deleted
            for url, entry in self.previous.items():
                if url not in self.requested:
                    self.entries.setdefault(url, entry)
        self._assign_paths()
        self.skipped["outside_prefix"] += len(self._outside)
        files: list[SourceFile] = []
        for url, text in self.texts.items():
            entry, before = self.entries[url], self.previous.get(url)
            assert entry.path is not None
            assert entry.hash is not None
            if before is None or (before.path, before.hash) != (entry.path, entry.hash):
                files.append(SourceFile(entry.path, text, entry.hash))
        indexed = {url: e for url, e in self.entries.items() if e.path and e.hash}
        now = {entry.path for entry in indexed.values() if entry.path is not None}
        deleted = sorted({e.path for e in self.previous.values() if e.path is not None} - now)
        pairs = sorted(f"{url}\0{entry.hash}" for url, entry in indexed.items())
        return Fetched(
            revision=digest("revision", *pairs, length=16), files=files, deleted=deleted,
            complete=False, skipped=+self.skipped, state=dump_state(origin, self.entries),
        )  # fmt: skip

    def _assign_paths(self) -> None:
        """Each indexed page's path: the one it had (stable), else a new one, unique."""
        taken = {e.path for e in self.entries.values() if e.path}
        for url in self.texts:
            entry = self.entries[url]
            if entry.path is not None:
                continue
            path = document_path(self.scope.relative(url), urlsplit(url).query)
            if path in taken:
                stem = path.removesuffix(".md")
                path = f"{stem}-{digest('url', url, length=6)}.md"
            taken.add(path)
            entry.path = path


def _local_name(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _page_of(answer: Answer, url: str) -> Page:
    text = decode(answer.body, answer.charset)
    if answer.media == "text":
        return Page(text.strip())
    return html_page(text, url)


def _unreadable(url: str, answer: Answer) -> str:
    """Why the start URL or a sitemap cannot be read, for the person who registered it."""
    if answer.status is None:
        return f"{url} is unreachable: {answer.detail}"
    if answer.kind == "skip" and answer.reason != "error":
        what = {"huge": "is too big", "binary": "is not text", "not_html": "is not a web page"}
        return f"{url} {what.get(answer.reason, 'cannot be read')}: {answer.detail}"
    return f"{url} answered HTTP {answer.status}"


# -- The port --------------------------------------------------------------------------------


class WebFetcher:
    """The `SourceFetcher` for web sources (domain/sources.py)."""

    def __init__(
        self, *, user_agent: str = USER_AGENT, min_interval_s: float = 0.5,
        timeout_s: float = 30.0, max_page_bytes: int = 2_000_000, max_pages: int = 2000,
        max_depth: int = 20, max_redirects: int = 5,
        clock: Callable[[], float] = time.monotonic, sleep: Sleep = asyncio.sleep,
    ) -> None:  # fmt: skip
        self._user_agent = user_agent
        self._min_interval = min_interval_s
        self._timeout_s = timeout_s
        self._limits = Limits(max_page_bytes, max_pages, max_depth, max_redirects)
        self._pacer = HostPacer(min_interval_s, clock, sleep)  # shared by every sync

    async def fetch(self, spec: SourceSpec, previous: Mapping[str, Any] | None) -> Fetched:
        start = normalize(spec.origin)
        if start is None:
            raise SourceError(f"{without_credentials(spec.origin)} is not an http(s) URL")
        timeout = aiohttp.ClientTimeout(total=self._timeout_s)
        headers = {"User-Agent": f"{self._user_agent}/1.0 (documentation indexer)"}
        connector = aiohttp.TCPConnector(limit_per_host=1)
        async with aiohttp.ClientSession(
            timeout=timeout, headers=headers, connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(), trust_env=False,
        ) as session:  # fmt: skip
            http = Http(session, self._pacer, _basic_auth(spec.origin), self._timeout_s)
            crawl = Crawl(spec, start, http, self._limits, self._user_agent,
                          load_state(previous), self._pacer, self._min_interval)  # fmt: skip
            if urlsplit(start).path.lower().endswith(".xml"):
                await crawl.from_sitemap()
            else:
                await crawl.from_links()
        fetched = crawl.result(start)
        log.info(
            "web source %s: %d pages, %d new or changed, %d deleted, skipped %s",
            spec.name, len(fetched.state["pages"]), len(fetched.files), len(fetched.deleted),
            dict(fetched.skipped),
        )  # fmt: skip
        return fetched
