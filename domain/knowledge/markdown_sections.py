"""Markdown cleaned into sections: markup stripped, code fences kept verbatim."""

from __future__ import annotations

import re

from domain.knowledge.markdown_inline import clean_inline
from domain.knowledge.sections import Line, Section, SectionBuilder

# Fences may be indented to any depth: docs nest them in list items more than CommonMark allows.
_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})(.*)$")
_ATX_HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]|$)")
_SETEXT_UNDERLINE = re.compile(r"^ {0,3}(?:=+|-+)[ \t]*$")
_THEMATIC_BREAK = re.compile(r"^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$")
_LINK_DEFINITION = re.compile(r"^ {0,3}\[[^\]]+\]:[ \t]*\S")
_QUOTE_MARKERS = re.compile(r"^(?:[ \t]*>[ \t]?)+")
_FRONT_MATTER_KEY = re.compile(r"^[\w\"'-][^:]*[:=]")


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
            title = _without_closing_hashes(line[heading.end() :])
            builder.heading(len(heading.group(1)), clean_inline(title), number)
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


def _without_closing_hashes(title: str) -> str:
    """`## Title ##` has the title `Title`; `# C#` keeps its hash (it is not preceded by space)."""
    title = title.strip()
    bare = title.rstrip("#")
    return bare.rstrip() if bare != title and (not bare or bare[-1] in " \t") else title


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
