"""Markdown inline markup (emphasis, links, images, code spans) to plain text.

Every pattern stops scanning at its own markers, so a long line full of unmatched markers costs
linear time rather than quadratic.
"""

from __future__ import annotations

import bisect
import re

_BACKTICKS = re.compile(r"`+")
_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")
_IMAGE = re.compile(r"!\[([^\[\]]*)\](?:\([^()]*\)|\[[^\[\]]*\])")
_LINK = re.compile(r"\[([^\[\]]*)\]\(\s*<?([^()\s<>]*)>?(?:\s+(?:\"[^\"]*\"|'[^']*'))?\s*\)")
_REFERENCE_LINK = re.compile(r"\[([^\[\]]+)\]\[[^\[\]]*\]")
_AUTOLINK = re.compile(r"<((?:https?|ftp|mailto):[^<>\s]+)>")
_ABSOLUTE_URL = re.compile(r"^(?:[A-Za-z][A-Za-z0-9+.-]*:|//)")
_EMPHASIS = (
    ("**", re.compile(r"\*\*(?=\S)((?:[^*]|\*(?!\*))+?)(?<=\S)\*\*")),
    ("__", re.compile(r"(?<!\w)__(?=\S)((?:[^_]|_(?!_))+?)(?<=\S)__(?!\w)")),
    ("*", re.compile(r"(?<![\w*])\*([^\s*](?:[^*]*[^\s*])?)\*(?![\w*])")),
    ("_", re.compile(r"(?<!\w)_([^\s_](?:[^_]*[^\s_])?)_(?!\w)")),
    ("~~", re.compile(r"~~(?=\S)((?:[^~]|~(?!~))+?)(?<=\S)~~")),
)
_MARKUP_CHARACTERS = frozenset("`*_[]<~\\")
# Escaped characters hide in the private use area while markup is stripped, then come back.
_HIDDEN = 0xE000
_UNHIDE = {_HIDDEN + code: code for code in range(128)}


def clean_inline(text: str) -> str:
    """Markdown inline markup to plain text; code spans keep their content untouched."""
    if _MARKUP_CHARACTERS.isdisjoint(text):
        return text
    parts: list[str] = []
    position = 0
    for start, end, content in _code_spans(text):
        parts.append(_strip_markup(text[position:start]))
        padded = len(content) > 2 and content[0] == content[-1] == " "
        parts.append(content[1:-1] if padded else content)
        position = end
    parts.append(_strip_markup(text[position:]))
    return "".join(parts)


def _code_spans(text: str) -> list[tuple[int, int, str]]:
    """(start, end, content) of each code span: a backtick run closed by the next equal run."""
    runs = [(run.start(), run.end()) for run in _BACKTICKS.finditer(text)]
    by_length: dict[int, list[int]] = {}
    for index, (start, end) in enumerate(runs):
        by_length.setdefault(end - start, []).append(index)
    spans: list[tuple[int, int, str]] = []
    index = 0
    while index < len(runs):
        start, end = runs[index]
        same = by_length[end - start]
        following = bisect.bisect_right(same, index)
        if following == len(same):
            index += 1  # an unmatched run is literal text
            continue
        closing = runs[same[following]]
        spans.append((start, closing[1], text[end : closing[0]]))
        index = same[following] + 1
    return spans


def _strip_markup(text: str) -> str:
    # Each pattern runs only when its marker is present: most lines have little markup.
    if "\\" in text:
        text = _ESCAPE.sub(lambda escaped: chr(_HIDDEN + ord(escaped.group(1))), text)
    if "]" in text:
        text = _IMAGE.sub(r"\1", text) if "![" in text else text
        text = _LINK.sub(_link_text, text) if "](" in text else text
        text = _REFERENCE_LINK.sub(r"\1", text) if "][" in text else text
    if "<" in text:
        text = _AUTOLINK.sub(r"\1", text)
    for marker, emphasis in _EMPHASIS:
        if marker in text:
            text = emphasis.sub(r"\1", text)
    return text.translate(_UNHIDE)


def _link_text(link: re.Match[str]) -> str:
    """Keeps an absolute URL after the link text; relative ones mean nothing outside the repo."""
    text, url = link.group(1).strip(), link.group(2)
    if not _ABSOLUTE_URL.match(url) or url == text:
        return text
    return f"{text} ({url})" if text else url
