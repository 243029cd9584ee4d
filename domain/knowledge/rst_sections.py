"""reStructuredText cleaned into sections: titles found by adornment, directives interpreted."""

from __future__ import annotations

import re
from collections.abc import Sequence

from domain.knowledge.rst_inline import clean_rst_inline
from domain.knowledge.sections import Line, Section, SectionBuilder, plain_sections

_ADORNMENT = re.compile(r"^([!-/:-@\[-`{-~])\1{2,}[ \t]*$")
_EXPLICIT_MARKUP = re.compile(r"^([ \t]*)\.\.(?:[ \t]+(.*))?$")
_DIRECTIVE = re.compile(r"^([\w][\w:.+-]*)::(?:[ \t]+(.*))?$")
_FOOTNOTE = re.compile(r"^\[([^\]]+)\][ \t]*(.*)$")
_OPTION = re.compile(r"^[ \t]*:[\w-][^:]*:(?:[ \t]|$)")
_TABLE_BORDER = re.compile(r"^[ \t]*(?:\+(?:[-=]+\+)+|=+(?:[ \t]+=+)+)[ \t]*$")
_ANONYMOUS_TARGET = re.compile(r"^[ \t]*__[ \t]+\S")

_CODE_DIRECTIVES = frozenset({"code-block", "code", "sourcecode", "doctest", "testcode"})
# Directives whose argument and content are pointers or layout, not text to answer from.
_DROPPED_DIRECTIVES = frozenset(
    {
        "toctree", "contents", "include", "literalinclude", "raw", "highlight", "sectnum",
        "meta", "index", "image", "default-role", "role", "tabularcolumns", "autosummary",
    }
)  # fmt: skip
# Directives whose argument is a file name or a condition; their content is kept.
_ARGUMENT_DROPPED = frozenset({"figure", "only", "ifconfig", "container", "class", "rst-class"})
_ADMONITION_LABELS = {
    "note": "Note",
    "warning": "Warning",
    "tip": "Tip",
    "hint": "Hint",
    "important": "Important",
    "caution": "Caution",
    "danger": "Danger",
    "attention": "Attention",
    "error": "Error",
    "seealso": "See also",
    "todo": "Todo",
    "versionadded": "New in version",
    "versionchanged": "Changed in version",
    "deprecated": "Deprecated since version",
    "admonition": "",
}


def rst_sections(text: str) -> list[Section]:
    lines = [Line(line, number) for number, line in enumerate(text.split("\n"), start=1)]
    parser = _RstParser()
    try:
        parser.parse(lines, titles=True)
    except RecursionError:  # directives nested hundreds deep: read it as plain text instead
        return plain_sections(text)
    return parser.builder.finish()


class _RstParser:
    def __init__(self) -> None:
        self.builder = SectionBuilder()
        # Title levels follow the order in which each adornment style first appears.
        self._levels: dict[tuple[str, bool], int] = {}

    def parse(self, lines: Sequence[Line], *, titles: bool) -> None:
        index = 0
        while index < len(lines):
            text = lines[index].text
            consumed = self._title(lines, index) if titles else 0
            explicit = _EXPLICIT_MARKUP.match(text)
            if consumed:
                index += consumed
            elif not text.strip():
                self.builder.blank()
                index += 1
            elif explicit:
                index = self._explicit(lines, index, len(explicit.group(1)), explicit.group(2))
            elif _ADORNMENT.match(text) or _TABLE_BORDER.match(text):
                self.builder.blank()  # a transition or a table border
                index += 1
            elif _ANONYMOUS_TARGET.match(text):
                index += 1
            elif text.rstrip().endswith("::"):
                index = self._literal(lines, index)
            else:
                self.builder.text(clean_rst_inline(text), lines[index].number)
                index += 1

    def _title(self, lines: Sequence[Line], index: int) -> int:
        """How many lines a section title at index takes (over- and underlined: 3), else 0."""
        text = lines[index].text
        overline = _ADORNMENT.match(text)
        if overline:
            if index + 2 >= len(lines):
                return 0
            title, underline = lines[index + 1], _ADORNMENT.match(lines[index + 2].text)
            if (
                underline
                and underline.group(1) == overline.group(1)
                and title.text.strip()
                and not _ADORNMENT.match(title.text)
            ):
                self._heading((overline.group(1), True), title)
                return 3
            return 0
        if (
            self.builder.in_paragraph
            or index + 1 >= len(lines)
            or not text.strip()
            or text[0] in " \t"
            or _EXPLICIT_MARKUP.match(text)
        ):
            return 0
        underline = _ADORNMENT.match(lines[index + 1].text)
        # Like docutils: an underline shorter than its title counts only from 4 characters.
        if underline and len(lines[index + 1].text.rstrip()) >= min(len(text.rstrip()), 4):
            self._heading((underline.group(1), False), lines[index])
            return 2
        return 0

    def _heading(self, style: tuple[str, bool], title: Line) -> None:
        level = self._levels.setdefault(style, len(self._levels) + 1)
        self.builder.heading(level, clean_rst_inline(title.text.strip()), title.number)

    def _explicit(self, lines: Sequence[Line], index: int, indent: int, rest: str | None) -> int:
        """Handles a `.. ` block (directive, footnote, comment, target); returns where it ends."""
        end = _indented_end(lines, index, indent)
        body = lines[index + 1 : end]
        rest = (rest or "").strip()
        directive = _DIRECTIVE.match(rest)
        footnote = _FOOTNOTE.match(rest)
        self.builder.blank()
        if rest.startswith(("_", "|")):
            pass  # a hyperlink target or a substitution definition
        elif directive:
            name = directive.group(1).lower()
            self._directive(name, (directive.group(2) or "").strip(), body, lines[index].number)
        elif footnote:
            label, text = footnote.groups()
            self.builder.text(f"[{label}] {clean_rst_inline(text)}", lines[index].number)
            self.parse(_dedent(body), titles=False)
        # Anything else is a comment, dropped with its indented body.
        self.builder.blank()
        return end

    def _directive(self, name: str, argument: str, body: Sequence[Line], number: int) -> None:
        options = 0
        while options < len(body) and _OPTION.match(body[options].text):
            options += 1
        content = _dedent(body[options:])
        if name in _CODE_DIRECTIVES:
            self.builder.code(content)
            return
        if name in _DROPPED_DIRECTIVES:
            return
        label = _ADMONITION_LABELS.get(name)
        if label:
            heading = f"{label}: {argument}" if argument else f"{label}:"
            self.builder.text(clean_rst_inline(heading), number)
        elif argument and name not in _ARGUMENT_DROPPED:
            self.builder.text(clean_rst_inline(argument), number)
        self.parse(content, titles=False)

    def _literal(self, lines: Sequence[Line], index: int) -> int:
        """A paragraph line ending in `::`, and the indented literal block after it, as code."""
        text = lines[index].text.rstrip()
        shown = "" if text.strip() == "::" else text[:-3] if text.endswith(" ::") else text[:-1]
        self.builder.text(clean_rst_inline(shown), lines[index].number)
        indent = len(text) - len(text.lstrip())
        start = index + 1
        while start < len(lines) and not lines[start].text.strip():
            start += 1
        if start == index + 1 or start >= len(lines) or _indent(lines[start].text) <= indent:
            return index + 1
        end = _indented_end(lines, index, indent)
        self.builder.code(_dedent(lines[start:end]))
        return end


def _indent(text: str) -> int:
    return len(text) - len(text.lstrip())


def _indented_end(lines: Sequence[Line], index: int, indent: int) -> int:
    """Index after the last non-blank line, following index, that is indented past indent."""
    last = index
    for position in range(index + 1, len(lines)):
        text = lines[position].text
        if text.strip():
            if _indent(text) <= indent:
                break
            last = position
    return last + 1


def _dedent(lines: Sequence[Line]) -> list[Line]:
    indents = [_indent(line.text) for line in lines if line.text.strip()]
    cut = min(indents, default=0)
    return [Line(line.text[cut:] if line.text.strip() else "", line.number) for line in lines]
