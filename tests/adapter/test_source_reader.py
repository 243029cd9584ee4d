"""Reading a source folder: what is read, what is skipped and why, and its license."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.files.licenses import spdx_of
from adapters.files.source_reader import read_source
from adapters.files.text_files import MAX_FILE_BYTES
from domain.errors import InvalidEvent


def test_reads_text_files_and_counts_what_it_skips(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "guide.md").write_text("# Guide\n\nhello\n")
    (tmp_path / "main.py").write_text("print('hi')\n")
    (tmp_path / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\0\0")
    (tmp_path / "blob.txt").write_bytes(b"text\0with a nul")
    (tmp_path / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    (tmp_path / "huge.md").write_text("x" * (MAX_FILE_BYTES + 1))
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "config.toml").write_text("[core]\n")
    (tmp_path / "LICENSE").write_text("MIT License\n\nPermission is hereby granted, free of charge")

    snapshot = read_source(tmp_path, name="repo")

    assert sorted(f.relative_path for f in snapshot.files) == ["docs/guide.md", "main.py"]
    assert dict(snapshot.skipped) == {"unsupported": 2, "binary": 1, "undecodable": 1, "huge": 1}
    assert snapshot.license == "MIT"
    assert snapshot.name == "repo"
    assert all(len(f.content_hash) == 64 for f in snapshot.files)


def test_a_single_file_is_a_source_and_the_flag_license_wins(tmp_path: Path) -> None:
    note = tmp_path / "note.md"
    note.write_text("# Note\n")
    snapshot = read_source(note, license_id="CC-BY-4.0")
    assert snapshot.single_file
    assert [f.relative_path for f in snapshot.files] == ["note.md"]
    assert snapshot.license == "CC-BY-4.0"


def test_no_license_file_is_unknown_and_a_missing_path_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("hello\n")
    assert read_source(tmp_path).license == "unknown"
    with pytest.raises(InvalidEvent, match="no such file"):
        read_source(tmp_path / "nope")


@pytest.mark.parametrize(
    ("text", "spdx"),
    [
        ("Apache License\nVersion 2.0, January 2004", "Apache-2.0"),
        ("Redistribution and use in source and binary forms ... Neither the name", "BSD-3-Clause"),
        ("GNU GENERAL PUBLIC LICENSE\nVersion 3, 29 June 2007", "GPL-3.0"),
        ("All rights reserved.", "unknown"),
    ],
)
def test_license_texts_map_to_spdx_ids(text: str, spdx: str) -> None:
    assert spdx_of(text) == spdx
