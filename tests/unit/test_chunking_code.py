"""Code chunking: Python by symbol through `ast`, everything else by blank-line blocks."""

from __future__ import annotations

import itertools

import pytest

from domain.knowledge.chunking import chunk_file
from domain.knowledge.chunks import Chunk

PYTHON = '''"""Module docstring."""

import os

LIMIT = 3


# Attached comment.
@cache
@other(1)
def top(a):
    """Top docstring."""
    return a


class Plain:
    x = 1


class Outer(Base):
    """Outer docstring."""

    attr = 2

    @property
    def value(self):
        return 1

    async def fetch(self):
        await os.sleep(1)

    class Inner:
        def deep(self):
            def helper():
                pass
            return helper


async def main():
    pass

if __name__ == "__main__":
    main()
'''


def assert_spans_hold_the_text(chunks: list[Chunk], source: str) -> None:
    lines = source.replace("\r\n", "\n").split("\n")
    for chunk in chunks:
        assert chunk.text.strip()
        assert 1 <= chunk.start_line <= chunk.end_line <= len(lines)
        window = "\n".join(lines[chunk.start_line - 1 : chunk.end_line])
        text_lines = [line for line in chunk.text.split("\n") if line.strip()]
        assert text_lines[0] in lines[chunk.start_line - 1]
        assert text_lines[-1] in lines[chunk.end_line - 1]
        for line in text_lines:
            assert line in window


def test_python_symbols_become_chunks_with_their_locators_and_lines() -> None:
    chunks = chunk_file("pkg/mod.py", PYTHON)

    spans = [(chunk.locator, chunk.start_line, chunk.end_line) for chunk in chunks]
    assert spans == [
        ("", 1, 43),
        ("top", 8, 13),
        ("Plain", 16, 17),
        ("Outer", 20, 23),
        ("Outer.value", 25, 27),
        ("Outer.fetch", 29, 30),
        ("Outer.Inner.deep", 33, 36),
        ("main", 39, 40),
    ]
    assert {chunk.kind for chunk in chunks} == {"code"}
    assert_spans_hold_the_text(chunks, PYTHON)


def test_python_chunks_keep_decorators_docstrings_and_indentation_verbatim() -> None:
    chunks = {chunk.locator: chunk for chunk in chunk_file("mod.py", PYTHON)}

    assert chunks["top"].text == (
        '# Attached comment.\n@cache\n@other(1)\ndef top(a):\n    """Top docstring."""\n'
        "    return a"
    )
    assert chunks["Outer.value"].text == "    @property\n    def value(self):\n        return 1"
    assert chunks["Outer.fetch"].text.startswith("    async def fetch(self):")
    assert "def helper():" in chunks["Outer.Inner.deep"].text
    assert chunks["Outer"].text == 'class Outer(Base):\n    """Outer docstring."""\n\n    attr = 2'


def test_python_module_level_chunk_holds_docstring_imports_constants_and_main_guard() -> None:
    module = chunk_file("mod.py", PYTHON)[0]

    assert module.locator == ""
    assert module.text.startswith('"""Module docstring."""\n\nimport os\n\nLIMIT = 3')
    assert module.text.endswith('if __name__ == "__main__":\n    main()')
    assert "def " not in module.text


def test_python_imports_alone_make_no_module_chunk_but_a_bare_module_still_has_one() -> None:
    with_function = "import os\n\n\ndef f():\n    return os.sep\n"
    only_imports = "from a import b\nfrom c import d\n"

    assert [chunk.locator for chunk in chunk_file("a.py", with_function)] == ["f"]
    assert [chunk.text for chunk in chunk_file("b.py", only_imports)] == [only_imports.strip()]


def test_python_class_with_only_methods_and_no_body_text_has_no_class_chunk() -> None:
    source = "class A:\n    def m(self):\n        pass\n\n    def n(self):\n        pass\n"

    assert [chunk.locator for chunk in chunk_file("a.py", source)] == ["A.m", "A.n"]


def test_python_comment_lookalike_in_a_docstring_stays_with_its_function() -> None:
    source = 'def a():\n    """Doc\n# not a comment"""\n# a real comment\ndef b():\n    pass\n'

    chunks = chunk_file("a.py", source)

    assert [(chunk.locator, chunk.start_line, chunk.end_line) for chunk in chunks] == [
        ("a", 1, 3),
        ("b", 4, 6),
    ]


def test_python_oversized_function_is_split_at_line_ends_with_the_same_locator() -> None:
    source = "def big():\n" + "".join(f"    value_{i} = {i} * 2\n" for i in range(80))

    chunks = chunk_file("big.py", source, max_chars=300, overlap=60)

    assert len(chunks) > 3
    assert {chunk.locator for chunk in chunks} == {"big"}
    assert all(len(chunk.text) <= 300 for chunk in chunks)
    assert all(chunk.text.startswith(("def big", "    value_")) for chunk in chunks)
    assert all(chunk.text.endswith(" * 2") for chunk in chunks)
    for before, after in itertools.pairwise(chunks):
        assert after.start_line <= before.end_line  # whole lines of overlap
    assert chunks[-1].end_line == 81
    assert_spans_hold_the_text(chunks, source)


def test_python_syntax_error_falls_back_to_blank_line_blocks() -> None:
    source = "def broken(:\n    pass\n\n\nx = 1\ny = 2\n"

    chunks = chunk_file("bad.py", source, max_chars=25)

    assert [(chunk.text, chunk.start_line, chunk.end_line) for chunk in chunks] == [
        ("def broken(:\n    pass", 1, 2),
        ("x = 1\ny = 2", 5, 6),
    ]
    assert {(chunk.locator, chunk.kind) for chunk in chunks} == {("", "code")}


def test_python_with_crlf_line_endings_keeps_line_numbers() -> None:
    source = "import os\r\n\r\n\r\ndef f():\r\n    return 1\r\n"

    chunks = chunk_file("win.py", source)

    assert [(chunk.locator, chunk.start_line, chunk.end_line) for chunk in chunks] == [("f", 4, 5)]
    assert chunks[0].text == "def f():\n    return 1"


GO = """package main

import "fmt"

// Greet says hello.
func Greet(name string) string {
\treturn "hi " + name
}


func main() {
\tfmt.Println(Greet("x"))
}
"""


def test_other_code_is_packed_by_blank_line_blocks_without_cutting_lines() -> None:
    chunks = chunk_file("cmd/main.go", GO, max_chars=80)

    assert [(chunk.start_line, chunk.end_line) for chunk in chunks] == [(1, 3), (5, 8), (11, 13)]
    assert (
        chunks[1].text
        == '// Greet says hello.\nfunc Greet(name string) string {\n\treturn "hi " + name\n}'
    )
    assert {(chunk.locator, chunk.kind) for chunk in chunks} == {("", "code")}
    assert_spans_hold_the_text(chunks, GO)


def test_blank_line_blocks_pack_up_to_max_chars_and_keep_blank_lines_between() -> None:
    chunks = chunk_file("cmd/main.go", GO, max_chars=1500)

    assert len(chunks) == 1
    assert chunks[0].text == GO.strip("\n")
    assert (chunks[0].start_line, chunks[0].end_line) == (1, 13)


def test_a_block_too_big_alone_is_cut_between_lines() -> None:
    source = "\n".join(f"SELECT {i} FROM t;" for i in range(40)) + "\n"

    chunks = chunk_file("q.sql", source, max_chars=100)

    assert len(chunks) > 1
    assert all(len(chunk.text) <= 100 for chunk in chunks)
    assert "\n".join(chunk.text for chunk in chunks) == source.strip()
    assert_spans_hold_the_text(chunks, source)


def test_a_single_line_longer_than_max_chars_is_cut_inside_with_overlap() -> None:
    source = "x = 1;\n\n" + "a" * 1000 + "\n"

    chunks = chunk_file("min.js", source, max_chars=300, overlap=50)

    long_chunks = [chunk for chunk in chunks if chunk.start_line == 3]
    assert all(len(chunk.text) <= 300 for chunk in chunks)
    assert sum(len(chunk.text) for chunk in long_chunks) >= 1000
    assert all((chunk.start_line, chunk.end_line) == (3, 3) for chunk in long_chunks)


@pytest.mark.parametrize("suffix", [".yaml", ".toml", ".sh", ".rs", ".ts"])
def test_config_and_script_suffixes_are_code(suffix: str) -> None:
    chunks = chunk_file(f"conf{suffix}", "# a heading-looking comment\nkey = 1\n")

    assert [(chunk.kind, chunk.locator, chunk.text) for chunk in chunks] == [
        ("code", "", "# a heading-looking comment\nkey = 1")
    ]
