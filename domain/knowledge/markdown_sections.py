"""Markdown cleaned into sections: markup stripped, code fences kept verbatim."""

from __future__ import annotations

import re

from domain.knowledge.sections import Line, Section, SectionBuilder

# Fences may be indented to any depth: docs nest them in list items more than CommonMark allows.
_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})(.*)$")
_ATX_HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT_UNDERLINE = re.compile(r"^ {0,3}(?:=+|-+)[ \t]*$")
_THEMATIC_BREAK = re.compile(r"^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$")
_LINK_DEFINITION = re.compile(r"^ {0,3}\[[^\]]+\]:[ \t]*\S")
_QUOTE_MARKERS = re.compile(r"^(?:[ \t]*>[ \t]?)+")
_FRONT_MATTER_KEY = re.compile(r"^[\w\"'-][^:]*[:=]")

_CODE_SPAN = re.compile(r"(`+)(.+?)(?<!`)\1(?!`)")
_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")
_IMAGE = re.compile(r"!\[([^\]]*)\](?:\([^)]*\)|\[[^\]]*\])")
_LINK = re.compile(r"\[([^\]]*)\]\(\s*<?([^)\s>]*)>?(?:\s+(?:\"[^\"]*\"|'[^']*'))?\s*\)")
_REFERENCE_LINK = re.compile(r"\[([^\]]+)\]\[[^\]]*\]")
_AUTOLINK = re.compile(r"<((?:https?|ftp|mailto):[^>\s]+)>")
_ABSOLUTE_URL = re.compile(r"^(?:[A-Za-z][A-Za-z0-9+.-]*:|//)")
_EMPHASIS = (
    ("**", re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*")),
    ("__", re.compile(r"(?<!\w)__(?=\S)(.+?)(?<=\S)__(?!\w)")),
    ("*", re.compile(r"(?<![\w*])\*(?=[^\s*])(.+?)(?<=[^\s*])\*(?![\w*])")),
    ("_", re.compile(r"(?<!\w)_(?=[^\s_])(.+?)(?<=[^\s_])_(?!\w)")),
    ("~~", re.compile(r"~~(?=\S)(.+?)(?<=\S)~~")),
)
_MARKUP_CHARACTERS = frozenset("`*_[]<~\\")
# Escaped characters hide in the private use area while markup is stripped, then come back.
_HIDDEN = 0xE000
_UNHIDE = {_HIDDEN + code: code for code in range(128)}


def markdown_sections(text: str) -> list[Section]:
    lines = text.split("\n")
    builder = SectionBuilder()
    index = _front_matter_end(lines)
    in_comment = False
    while index < len(lines):
        raw, number = lines[index], index + 1
        fence = None if in_comment else _FENCE.match(raw)
        if fence and not (fence.group(1)[0] == "`" and "`" in fence.group(2)):
            end = _fence_end(lines, index, fence.group(1))
            builder.code([Line(lines[at], at + 1) for at in range(index, end + 1)])
            index = end + 1
            continue
        index += 1
        if not raw.strip():
            builder.blank()
            continue
        line, in_comment = _strip_comments(raw, in_comment)
        heading = _ATX_HEADING.match(line)
        if heading:
            builder.heading(len(heading.group(1)), clean_inline(heading.group(2) or ""), number)
        elif (
            line.strip()
            and not builder.in_paragraph
            and index < len(lines)
            and _SETEXT_UNDERLINE.match(lines[index])
        ):
            level = 1 if lines[index].strip()[0] == "=" else 2
            builder.heading(level, clean_inline(line), number)
            index += 1
        elif _THEMATIC_BREAK.match(line) or _SETEXT_UNDERLINE.match(line):
            builder.blank()
        elif not (_LINK_DEFINITION.match(line) or _is_table_rule(line)):
            builder.text(clean_inline(_QUOTE_MARKERS.sub("", line)), number)
    return builder.finish()


def clean_inline(text: str) -> str:
    """Markdown inline markup to plain text; code spans keep their content untouched."""
    if _MARKUP_CHARACTERS.isdisjoint(text):
        return text
    parts: list[str] = []
    position = 0
    for span in _CODE_SPAN.finditer(text):
        parts.append(_strip_markup(text[position : span.start()]))
        content = span.group(2)
        parts.append(
            content[1:-1] if len(content) > 2 and content[0] == content[-1] == " " else content
        )
        position = span.end()
    parts.append(_strip_markup(text[position:]))
    return "".join(parts)


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


def _front_matter_end(lines: list[str]) -> int:
    """Index of the first line after a YAML (---) or TOML (+++) front matter block, else 0."""
    opener = lines[0].strip()
    if opener not in ("---", "+++"):
        return 0
    closers = ("---", "...") if opener == "---" else ("+++",)
    keyed = False
    for index in range(1, len(lines)):
        line = lines[index].strip()
        if line in closers:
            return index + 1
        # A thematic break at the top is not front matter: that starts with a key.
        if line and not keyed:
            if not _FRONT_MATTER_KEY.match(line):
                return 0
            keyed = True
    return 0


def _fence_end(lines: list[str], start: int, marker: str) -> int:
    """Index of the closing fence line, or of the last line when the fence is never closed."""
    for index in range(start + 1, len(lines)):
        line = lines[index].strip()
        if len(line) >= len(marker) and line == marker[0] * len(line):
            return index
    return len(lines) - 1


def _strip_comments(line: str, in_comment: bool) -> tuple[str, bool]:
    """The line without HTML comments, and whether a comment is still open at its end."""
    if not in_comment and "<!--" not in line:
        return line, False
    kept: list[str] = []
    position = 0
    while True:
        if in_comment:
            end = line.find("-->", position)
            if end < 0:
                return "".join(kept), True
            position, in_comment = end + 3, False
        start = line.find("<!--", position)
        if start < 0:
            kept.append(line[position:])
            return "".join(kept), False
        kept.append(line[position:start])
        position, in_comment = start + 4, True


def _is_table_rule(line: str) -> bool:
    return "|" in line and "-" in line and not line.strip(" \t|:-")
