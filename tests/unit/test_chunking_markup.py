"""Markdown and reStructuredText cleaning: headings, fences, directives and inline markup."""

from __future__ import annotations

from domain.knowledge.chunking import chunk_file
from domain.knowledge.chunks import Chunk
from domain.knowledge.rst_sections import rst_sections


def _by_locator(chunks: list[Chunk]) -> dict[str, Chunk]:
    return {chunk.locator: chunk for chunk in chunks}


def _filler(words: int) -> str:
    return " ".join(f"word{index}" for index in range(words)) + "."


NESTED_MD = f"""# Guide

{_filler(20)}

## Install

{_filler(20)}

### Linux

{_filler(20)}

## Usage

{_filler(20)}
"""


def test_nested_markdown_headings_give_locator_paths_and_start_the_text() -> None:
    chunks = chunk_file("docs/guide.md", NESTED_MD, max_chars=400)

    assert [chunk.locator for chunk in chunks] == [
        "Guide",
        "Guide > Install",
        "Guide > Install > Linux",
        "Guide > Usage",
    ]
    for chunk in chunks:
        assert chunk.text.startswith(chunk.locator.split(" > ")[-1] + "\n\n")
        assert not chunk.text.startswith("#")
        assert chunk.kind == "prose"
        assert chunk.path == "docs/guide.md"
    linux = _by_locator(chunks)["Guide > Install > Linux"]
    assert (linux.start_line, linux.end_line) == (9, 11)


def test_hash_lines_inside_fences_are_code_not_headings_and_fences_stay_verbatim() -> None:
    fence = '```bash\n# install the tool\npip install "buddy[dev]"  # **not** emphasis\n```'
    tilde = "~~~python\n## still code\nx = a_b_c * d * e\n~~~~"
    text = f"# Setup\n\nRun this:\n\n{fence}\n\nThen:\n\n{tilde}\n"

    chunks = chunk_file("setup.md", text)

    assert len(chunks) == 1
    assert chunks[0].locator == "Setup"
    assert fence in chunks[0].text
    assert tilde in chunks[0].text
    assert (chunks[0].start_line, chunks[0].end_line) == (1, 15)


def test_unclosed_fence_runs_to_the_end_and_hides_headings() -> None:
    chunks = chunk_file("a.md", "# Top\n\n```\n# not a heading\ncode\n")

    assert [chunk.locator for chunk in chunks] == ["Top"]
    assert "# not a heading\ncode" in chunks[0].text


def test_front_matter_and_html_comments_are_dropped() -> None:
    text = (
        "---\ntitle: Secret title\nowner: ops\n---\n"
        "<!-- a one-line comment -->\n# Real\n\nKeep <!-- inline --> this.\n"
        "<!--\nmulti-line\ncomment\n-->\nAnd this.\n"
    )

    chunks = chunk_file("a.md", text)

    assert len(chunks) == 1
    assert chunks[0].text == "Real\n\nKeep  this.\nAnd this."
    assert (chunks[0].start_line, chunks[0].end_line) == (6, 13)


def test_a_thematic_break_at_the_top_is_not_front_matter() -> None:
    chunks = chunk_file("a.md", "---\n\nVisible text.\n\n---\n\nMore text.\n")

    assert "Visible text." in chunks[0].text
    assert "More text." in chunks[0].text


def test_markdown_inline_markup_is_stripped_but_code_spans_kept() -> None:
    text = (
        "# Links\n\n"
        "See **bold**, *em*, _under_, ~~gone~~ and `snake_case_*name*`.\n"
        "Read [the docs](https://docs.example.com/x) or [local](../guide.md#top).\n"
        "![diagram](img/arch.png) and ![](img/empty.png) end.\n"
        "Escaped \\*star\\* and <https://auto.example.com> and 2 * 3 * 4.\n"
        "| a | b |\n|---|:-:|\n| 1 | 2 |\n"
    )

    body = chunk_file("a.md", text)[0].text

    assert "See bold, em, under, gone and snake_case_*name*." in body
    assert "Read the docs (https://docs.example.com/x) or local." in body
    assert "diagram and  end." in body
    assert "Escaped *star* and https://auto.example.com and 2 * 3 * 4." in body
    assert "| a | b |\n| 1 | 2 |" in body


def test_setext_headings_are_headings() -> None:
    text = f"Title\n=====\n\n{_filler(30)}\n\nPart\n----\n\n{_filler(30)}\n"

    chunks = chunk_file("a.markdown", text, max_chars=300)

    assert [chunk.locator for chunk in chunks] == ["Title", "Title > Part"]
    assert chunks[1].start_line == 6


def test_sections_never_share_a_chunk_however_small() -> None:
    # The sample KB's deployment guide: every section is a few lines, and merging them made one
    # chunk that answered "the p99 threshold" with the deploy steps around it.
    text = (
        "# Deploying\n\nThis guide covers deploys.\n\n## Deploy to production\n\n"
        "Run make deploy.\n\n## Rolling back\n\nIf p99 latency doubles, run make rollback.\n"
    )

    chunks = chunk_file("deploy.md", text, max_chars=1500)

    assert [chunk.locator for chunk in chunks] == [
        "Deploying", "Deploying > Deploy to production", "Deploying > Rolling back",
    ]  # fmt: skip
    assert chunks[2].text == "Rolling back\n\nIf p99 latency doubles, run make rollback."
    assert (chunks[2].start_line, chunks[2].end_line) == (9, 11)
    assert all("make deploy" not in chunk.text for chunk in chunks if chunk is not chunks[1])


def test_a_heading_with_nothing_under_it_joins_its_first_child() -> None:
    text = "# Guide\n\n## Install\n\nRun pip install buddy.\n"

    chunks = chunk_file("guide.md", text)

    assert [chunk.locator for chunk in chunks] == ["Guide > Install"]
    assert chunks[0].text == "Guide\n\nInstall\n\nRun pip install buddy."
    assert chunks[0].start_line == 1


def test_small_sections_do_not_merge_across_a_parent_boundary() -> None:
    # Deep is small but does not fit after A1; B is small but may not join Deep's chunk.
    deep = _filler(9)
    text = f"# A\n\n{_filler(40)}\n\n## A1\n\n{_filler(50)}\n\n### Deep\n\n{deep}\n\n# B\n\nend.\n"

    chunks = chunk_file("a.md", text, max_chars=400)

    assert [chunk.locator for chunk in chunks] == ["A", "A > A1", "A > A1 > Deep", "B"]
    assert chunks[-1].text == "B\n\nend."


def test_large_section_is_split_by_paragraphs_within_max_chars() -> None:
    paragraphs = "\n\n".join(_filler(15) for _ in range(8))
    text = f"# Big\n\n{paragraphs}\n"

    chunks = chunk_file("a.md", text, max_chars=300, overlap=50)

    assert len(chunks) > 2
    assert all(len(chunk.text) <= 300 for chunk in chunks)
    assert {chunk.locator for chunk in chunks} == {"Big"}
    assert all(not chunk.text.startswith(" ") for chunk in chunks)


RST = """.. _top-label:

==========
 Overview
==========

Intro calls :func:`buddy.run` and :ref:`Install guide <install>` with ``a_b*c*``,
see `Example <https://example.org>`_ and `the guide`_ and **bold** *em*.

Install
=======

.. code-block:: python
   :linenos:

   def main():
       return 42

.. note::
   Keep **this** note.

.. This is a comment
   that goes on.

Linux
-----

Example::

    $ make install

Windows
-------

Plain text.

Usage
=====

Last words.
"""


def test_rst_titles_with_overline_and_level_by_first_appearance() -> None:
    sections = rst_sections(RST)

    assert [section.path for section in sections] == [
        ("Overview",),
        ("Overview", "Install"),
        ("Overview", "Install", "Linux"),
        ("Overview", "Install", "Windows"),
        ("Overview", "Usage"),
    ]
    first_lines = [section.blocks[0].lines[0] for section in sections]
    assert [(line.text, line.number) for line in first_lines[:3]] == [
        ("Overview", 4),
        ("Install", 10),
        ("Linux", 25),
    ]
    chunks = chunk_file("docs/index.rst", RST, max_chars=200)
    assert chunks[0].locator == "Overview"
    assert chunks[0].text.startswith("Overview\n\nIntro calls")


def test_rst_directives_roles_comments_and_targets() -> None:
    body = "\n".join(chunk.text for chunk in chunk_file("index.rst", RST))

    assert "Intro calls buddy.run and Install guide with a_b*c*," in body
    assert "see Example (https://example.org) and the guide and bold em." in body
    assert "def main():\n    return 42" in body
    assert ":linenos:" not in body
    assert "Note:\nKeep this note." in body
    assert "comment" not in body
    assert "that goes on" not in body
    assert "top-label" not in body
    assert ".." not in body
    assert "Example:\n\n$ make install" in body


def test_rst_code_block_keeps_its_dedented_content_and_lines() -> None:
    blocks = [block for section in rst_sections(RST) for block in section.blocks if block.code]

    assert [block.text for block in blocks] == ["def main():\n    return 42", "$ make install"]
    assert [line.number for line in blocks[0].lines] == [16, 17]
    assert [line.number for line in blocks[1].lines] == [30]


def test_rst_level_order_follows_the_document_not_the_character() -> None:
    text = "Top\n---\n\nText one.\n\nChild\n=====\n\nText two.\n\nNext\n----\n\nText three.\n"

    paths = [section.path for section in rst_sections(text)]

    assert paths == [("Top",), ("Top", "Child"), ("Next",)]


def test_rst_short_underline_is_text_not_a_title() -> None:
    paths = [section.path for section in rst_sections("A long title\n---\n\nBody.\n")]

    assert paths == [()]


def test_plain_text_is_paragraphs() -> None:
    text = "First paragraph\nstill first.\n\n\nSecond paragraph.\n"

    chunks = chunk_file("notes.txt", text, strategy="paragraphs", max_chars=30, overlap=0)

    assert [(chunk.text, chunk.start_line, chunk.end_line) for chunk in chunks] == [
        ("First paragraph\nstill first.", 1, 2),
        ("Second paragraph.", 5, 5),
    ]
    assert all(chunk.locator == "" for chunk in chunks)


def test_rst_literal_markers_and_more_directives() -> None:
    text = (
        "Run it ::\n\n    make run\n\n::\n\n    make test\n\n"
        ".. warning:: Data loss\n\n   Back up first.\n\n"
        ".. code:: sql\n\n   SELECT 1;\n\n"
        ".. toctree::\n   :maxdepth: 2\n\n   install\n   usage\n\n"
        ".. |version| replace:: 1.0\n\n"
        ".. [1] A footnote.\n\n"
        "Version |version| is out [1]_.\n"
    )

    body = "\n".join(chunk.text for chunk in chunk_file("a.rst", text))

    assert body == (
        "Run it\n\nmake run\n\nmake test\n\nWarning: Data loss\n\nBack up first.\n\n"
        "SELECT 1;\n\n[1] A footnote.\n\nVersion version is out."
    )
