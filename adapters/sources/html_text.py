"""A fetched web page turned into what the index reads: its bytes decoded (the charset the
server or the page declares, else detected; broken bytes replaced, never fatal), and an HTML
page turned into Markdown with its headings kept and its navigation left out (trafilatura),
along with the links a crawler follows and what the page's robots meta tag asks.

Trafilatura finds the main content by itself on themed docs (Sphinx, Read the Docs, MkDocs,
Docusaurus) but drops the headings of a bare page with no container it recognises; such a page
is wrapped in `<main>` first, which keeps them without letting its navigation back in."""

from __future__ import annotations

import codecs
import contextlib
from copy import deepcopy
from dataclasses import dataclass, field
from email.message import Message
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin

import trafilatura
from trafilatura.settings import DEFAULT_CONFIG
from trafilatura.utils import detect_encoding

_PRESCAN_BYTES = 4096  # where a page's <meta charset> must be, per the HTML standard
# Docs themes put a pilcrow or a zero-width link in every heading: not text anyone asks about.
_HEADING_ANCHORS = (
    "//a[contains(concat(' ', normalize-space(@class), ' '), ' headerlink ')]"
    " | //a[contains(concat(' ', normalize-space(@class), ' '), ' hash-link ')]"
)
_CONTENT_ROOTS = "//main | //article | //*[@role='main']"

_CONFIG = deepcopy(DEFAULT_CONFIG)
# A short docs page is still a page: the default (250 characters) sends it to a fallback that
# keeps paragraphs and drops headings.
_CONFIG.set("DEFAULT", "MIN_EXTRACTED_SIZE", "1")
_CONFIG.set("DEFAULT", "MIN_OUTPUT_SIZE", "1")


@dataclass(frozen=True)
class Page:
    """What one page holds for the index and for the crawler."""

    text: str  # Markdown (HTML pages) or the text as served; "" when there is nothing to read
    links: list[str] = field(default_factory=list)  # absolute, in page order, fragments kept
    index: bool = True  # False: <meta name="robots" content="noindex">
    follow: bool = True  # False: <meta name="robots" content="nofollow">


def decode(data: bytes, declared: str | None) -> str:
    """The text of a response body: a byte order mark's charset, else the one its
    Content-Type header names, else the one the page's <meta> declares, else UTF-8 when the
    bytes are valid UTF-8, else detected. Bytes the charset cannot decode become U+FFFD."""
    if data.startswith(codecs.BOM_UTF8):
        return data.decode("utf-8-sig", errors="replace")
    meta = _codec(_meta_charset(data[:_PRESCAN_BYTES]))
    if meta is not None and meta.startswith(("utf-16", "utf-32")):
        meta = "utf-8"  # a page read as ASCII to find its <meta> is not UTF-16 (HTML standard)
    for codec in (_codec(declared), meta):
        if codec is not None:
            return data.decode(codec, errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    for guess in detect_encoding(data):  # charset_normalizer's guesses, best first
        codec = _codec(guess)
        if codec is not None:
            return data.decode(codec, errors="replace")
    return data.decode("utf-8", errors="replace")


def html_page(text: str, url: str) -> Page:
    """The page's main content as Markdown (`# Title`, `## Section`...), its links and its
    robots meta tag. Never raises on bad markup: what cannot be parsed reads as empty."""
    if not text.strip():
        return Page("")
    # A fragment (no <html>, one block) is refused as "not HTML" unless wrapped.
    tree: Any = trafilatura.load_html(text)
    if tree is None:
        tree = trafilatura.load_html(f"<div>{text}</div>")
    if tree is None:
        return Page("")
    index, follow = _robots_meta(tree)
    links = _links(tree, url) if follow else []
    title = " ".join((tree.findtext(".//title") or "").split())
    for anchor in tree.xpath(_HEADING_ANCHORS):
        anchor.drop_tree()
    _wrap_bare_body(tree)
    markdown = trafilatura.extract(
        tree, output_format="markdown", include_formatting=True, include_tables=True,
        include_comments=False, include_images=False, include_links=False,
        favor_recall=True, config=_CONFIG,
    ) or ""  # fmt: skip
    markdown = markdown.strip()
    if markdown and title and not _has_title(markdown):
        markdown = f"# {title}\n\n{markdown}"
    return Page(markdown, links, index, follow)


def _has_title(markdown: str) -> bool:
    return any(line.startswith("# ") for line in markdown.splitlines())


def _links(tree: Any, url: str) -> list[str]:
    """Every <a href> resolved against the page (and its <base href>), rel=nofollow left out."""
    base = url
    for href in tree.xpath("//base/@href")[:1]:
        base = urljoin(url, str(href).strip())
    found: list[str] = []
    for anchor in tree.xpath("//a[@href]"):
        if "nofollow" in str(anchor.get("rel") or "").lower().split():
            continue
        href = str(anchor.get("href")).strip()
        if href and not href.startswith("#"):
            found.append(urljoin(base, href))
    return found


def _robots_meta(tree: Any) -> tuple[bool, bool]:
    index = follow = True
    for meta in tree.xpath("//meta[@name and @content]"):
        name = str(meta.get("name")).strip().lower()
        if name not in ("robots", "buddybot"):
            continue
        said = {word.strip() for word in str(meta.get("content")).lower().split(",")}
        index = index and not said & {"noindex", "none"}
        follow = follow and not said & {"nofollow", "none"}
    return index, follow


def _wrap_bare_body(tree: Any) -> None:
    """A body with no <main>, <article> or role=main gets one around all it holds."""
    if tree.xpath(_CONTENT_ROOTS):
        return
    found = tree.find(".//body")
    body = tree if found is None else found  # markup lxml could not place in a <body>
    main = body.makeelement("main", {})
    main.text, body.text = body.text, None
    for child in list(body):
        main.append(child)
    body.append(main)


def _codec(name: str | None) -> str | None:
    if not name:
        return None
    try:
        return codecs.lookup(name.strip().strip("\"'")).name
    except LookupError:
        return None


def _meta_charset(head: bytes) -> str | None:
    """The charset a <meta charset> or <meta http-equiv="Content-Type"> near the top names."""
    finder = _MetaCharset()
    with contextlib.suppress(_Found):  # stops at the first one
        finder.feed(head.decode("latin-1"))  # ASCII-compatible: tags and attributes survive
    return finder.charset


class _Found(Exception):
    pass


class _MetaCharset(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.charset: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "meta":
            return
        values = {key.lower(): value or "" for key, value in attrs}
        if values.get("charset"):
            self.charset = values["charset"]
        elif values.get("http-equiv", "").lower() == "content-type" and "content" in values:
            header = Message()
            header["content-type"] = values["content"]
            self.charset = header.get_content_charset()
        if self.charset:
            raise _Found
