"""reStructuredText inline markup (roles, literals, references, emphasis) to plain text."""

from __future__ import annotations

import re

_LITERAL = re.compile(r"``(.+?)``")
_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")
_ROLE = re.compile(r":[\w.+-]+(?::[\w.+-]+)*:`([^`]+)`|`([^`]+)`:[\w.+-]+(?::[\w.+-]+)*:")
_HYPERLINK = re.compile(r"`([^`<]*)<([^`>]+)>`__?")
_INTERPRETED = re.compile(r"`([^`]+)`(?:__?)?")
_FOOTNOTE_REFERENCE = re.compile(r"[ \t]?\[(?:#[\w-]*|\*|[\w.-]+)\]_(?!\w)")
_WORD = re.compile(r"\S+")
_WORD_REFERENCE = re.compile(r"^([^\w\\]*[A-Za-z0-9](?:[\w.-]*[A-Za-z0-9])?)__?(\W*)$")
_SUBSTITUTION = re.compile(r"\|(?=\S)([^|\n]+?)(?<=\S)\|(?:__?)?(?![\w|])")
_EMPHASIS = (
    re.compile(r"\*\*(?=\S)((?:[^*]|\*(?!\*))+?)(?<=\S)\*\*"),
    re.compile(r"(?<![\w*])\*([^\s*](?:[^*]*[^\s*])?)\*(?![\w*])"),
)
_ROLE_TARGET = re.compile(r"^(.*?\S)\s*<[^>]*>$")
_ABSOLUTE_URL = re.compile(r"^(?:[A-Za-z][A-Za-z0-9+.-]*:|//)")
_MARKUP_CHARACTERS = frozenset("`*_|\\")
# Escaped characters hide in the private use area while markup is stripped, then come back.
_HIDDEN = 0xE000
_UNHIDE = {_HIDDEN + code: code for code in range(128)}


def clean_rst_inline(text: str) -> str:
    """Inline markup to plain text; ``literals`` keep their content untouched."""
    if _MARKUP_CHARACTERS.isdisjoint(text):
        return text
    parts: list[str] = []
    position = 0
    for literal in _LITERAL.finditer(text):
        parts.append(_strip_markup(text[position : literal.start()]))
        parts.append(literal.group(1))
        position = literal.end()
    parts.append(_strip_markup(text[position:]))
    return "".join(parts)


def _strip_markup(text: str) -> str:
    text = _ESCAPE.sub(lambda escaped: chr(_HIDDEN + ord(escaped.group(1))), text)
    text = _ROLE.sub(_role_text, text)
    text = _HYPERLINK.sub(_hyperlink_text, text)
    text = _INTERPRETED.sub(r"\1", text)
    text = _FOOTNOTE_REFERENCE.sub("", text)
    for emphasis in _EMPHASIS:
        text = emphasis.sub(r"\1", text)
    text = _SUBSTITUTION.sub(r"\1", text)
    if "_" in text:
        text = _WORD.sub(_without_reference_mark, text)
    return text.translate(_UNHIDE)


def _role_text(role: re.Match[str]) -> str:
    """:func:`~pkg.name` and :ref:`Title <target>` show as pkg.name and Title."""
    content = (role.group(1) or role.group(2)).strip()
    titled = _ROLE_TARGET.match(content)
    if titled:
        content = titled.group(1)
    return content.lstrip("~!")


def _without_reference_mark(word: re.Match[str]) -> str:
    """`name_` and `name__` (a reference) read as `name`; matched word by word to stay linear."""
    reference = _WORD_REFERENCE.match(word.group()) if "_" in word.group() else None
    return reference.group(1) + reference.group(2) if reference else word.group()


def _hyperlink_text(link: re.Match[str]) -> str:
    """Keeps an absolute URL after the link text; relative ones mean nothing outside the repo."""
    text, url = link.group(1).strip(), link.group(2).strip()
    if not _ABSOLUTE_URL.match(url) or url == text:
        return text or url
    return f"{text} ({url})" if text else url
