"""Markdown, as the model writes it, to Slack mrkdwn: code kept, bold, links, lists and headings
translated, every mention made inert, and the result cut to Slack's size limits. Pure."""

from __future__ import annotations

import re
from typing import Any

from domain.snippets import neutralise_mentions

SECTION_LIMIT = 3_000  # characters of text in one section block
MESSAGE_LIMIT = 40_000  # characters in one message; a longer answer goes out as a file
FENCE = "```"
_BROKEN_FENCE = "`\u200b`\u200b`"

_OPEN_FENCE = re.compile(r"^[ \t]{0,3}(?:(?P<ticks>`{3,})[^`]*|(?P<tildes>~{3,}).*)$")
_HEADING = re.compile(r"^[ \t]{0,3}#{1,6}[ \t]+(?P<text>.*?)[ \t#]*$")
_BULLET = re.compile(r"^(?P<indent>[ \t]*)[-*+][ \t]+(?P<text>.*)$")
_QUOTE = re.compile(r"^[ \t]{0,3}>[ \t]?(?P<text>.*)$")
_INLINE = re.compile(
    r"`(?P<code>[^`\n]+)`"
    r"|\[(?P<label>[^\]\n]+)\]\((?P<url>[^)\s]+)\)"
    r"|<(?P<auto>(?:https?|mailto):[^>\s]+)>"
)
_EMPHASIS = re.compile(
    r"\*\*(?=\S)(?P<bold>.+?)(?<=\S)\*\*"
    r"|__(?=\S)(?P<bold2>.+?)(?<=\S)__"
    r"|~~(?=\S)(?P<strike>.+?)(?<=\S)~~"
    r"|(?<![\w*])\*(?=[^\s*])(?P<italic>[^*\n]+?)(?<=[^\s*])\*(?![\w*])"
)
_LINKABLE = ("http://", "https://", "mailto:")
# Pieces already rendered (code spans, links) wait in private-use placeholders while the rest
# of the line is escaped and emphasised, so neither touches them.
_SLOT_OPEN, _SLOT_CLOSE = "\ue000", "\ue001"
_SLOT = re.compile(f"{_SLOT_OPEN}(\\d+){_SLOT_CLOSE}")


def escape(text: str) -> str:
    """Slack's three control characters as entities: nothing left can link, mention or ping."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def inert(text: str) -> str:
    """Text shown as written: mentions broken (also bare @here) and control characters escaped."""
    return escape(neutralise_mentions(text))


def to_mrkdwn(markdown: str) -> str:
    text = markdown.replace(_SLOT_OPEN, "").replace(_SLOT_CLOSE, "")
    out: list[str] = []
    fence: str | None = None  # the opening fence, while inside a code block
    for line in text.split("\n"):
        opening = _OPEN_FENCE.match(line)
        if fence is None and opening:
            fence = opening.group("ticks") or opening.group("tildes")
            out.append(FENCE)  # Slack shows a language tag as code: drop it
        elif fence is not None:
            if _closes(line, fence):
                fence = None
                out.append(FENCE)
            else:
                out.append(_no_fence(inert(line)))
        else:
            out.append(_no_fence(_prose_line(line)))
    if fence is not None:  # a draft cut mid-block, or a model that never closed it
        out.append(FENCE)
    return "\n".join(out)


def _no_fence(line: str) -> str:
    """Only the fences made here may open or close a block: Slack has no longer fences, so a
    ``` inside code (or loose in prose) would end or start one."""
    return line.replace(FENCE, _BROKEN_FENCE)


def _closes(line: str, fence: str) -> bool:
    stripped = line.strip()
    return len(stripped) >= len(fence) and stripped == fence[0] * len(stripped)


def _prose_line(line: str) -> str:
    if heading := _HEADING.match(line):
        text = heading.group("text").replace("**", "")
        return f"*{_inline(text)}*" if text else ""
    if bullet := _BULLET.match(line):
        return f"{bullet.group('indent')}• {_inline(bullet.group('text'))}"
    if quote := _QUOTE.match(line):
        return f"> {_inline(quote.group('text'))}"
    return _inline(line)


def _inline(text: str) -> str:
    rendered: list[str] = []

    def stash(match: re.Match[str]) -> str:
        rendered.append(_token(match))
        return f"{_SLOT_OPEN}{len(rendered) - 1}{_SLOT_CLOSE}"

    body = _EMPHASIS.sub(_emphasis, inert(_INLINE.sub(stash, text)))
    return _SLOT.sub(lambda slot: rendered[int(slot.group(1))], body)


def _token(match: re.Match[str]) -> str:
    code = match.group("code")
    if code is not None:
        return f"`{inert(code)}`"
    url = match.group("url") or match.group("auto")
    label = match.group("label")
    if not url.lower().startswith(_LINKABLE):  # javascript: and friends stay plain text
        return inert(match.group(0))
    target = url.replace("<", "%3C").replace(">", "%3E").replace("|", "%7C")
    if label is None:
        return f"<{target}>"
    return f"<{target}|{_EMPHASIS.sub(_emphasis, inert(label))}>"


def _emphasis(match: re.Match[str]) -> str:
    bold = match.group("bold") or match.group("bold2")
    if bold is not None:
        return f"*{bold}*"
    if match.group("strike") is not None:
        return f"~{match.group('strike')}~"
    return f"_{match.group('italic')}_"


def split_sections(text: str, limit: int = SECTION_LIMIT) -> list[str]:
    """Cut mrkdwn into pieces of at most `limit` characters: at a blank line, else a line end,
    else a space, never inside a link or an entity; a code block cut in two is closed and
    reopened, so each piece renders on its own."""
    if limit < 40:
        raise ValueError("a section limit under 40 characters cannot hold a code fence")
    reserve = len("\n" + FENCE)
    pieces: list[str] = []
    rest = text
    while len(rest) > limit:
        end, start = _cut(rest, limit - reserve)
        head, rest = rest[:end], rest[start:]
        if _open_block(head):
            head, rest = f"{head}\n{FENCE}", f"{FENCE}\n{rest}"
        pieces.append(head)
    pieces.append(rest)
    return [piece for piece in pieces if piece.strip()]


def _cut(text: str, limit: int) -> tuple[int, int]:
    """Where the first piece ends and where the rest starts (the separator between is dropped)."""
    for separator in ("\n\n", "\n", " "):
        at = text.rfind(separator, 0, limit + len(separator))
        if at > limit // 2:
            link = _open_link(text, at)
            if link is None:
                return at, at + len(separator)
            if link > limit // 2:
                return link, link
    # No separator will do: cut before a link or an entity, unless it starts the piece.
    at = _open_link(text, limit) or _open_entity(text, limit) or limit
    return at, at


def _open_link(text: str, at: int) -> int | None:
    """Where the link `at` falls inside starts; every `<` left in mrkdwn opens a link."""
    start = text.rfind("<", 0, at)
    return start if start >= 0 and text.find(">", start, at) == -1 else None


def _open_entity(text: str, at: int) -> int | None:
    start = text.rfind("&", max(0, at - 5), at)
    return start if start > 0 and ";" not in text[start:at] else None


def _open_block(piece: str) -> bool:
    return sum(1 for line in piece.split("\n") if line.strip() == FENCE) % 2 == 1


def section_blocks(text: str) -> list[dict[str, Any]]:
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": piece}}
        for piece in split_sections(text)
    ]
