"""Guess a source's SPDX license id from a LICENSE file next to it (or a few folders up)."""

from __future__ import annotations

from pathlib import Path

_NAMES = ("LICENSE", "LICENSE.md", "LICENSE.txt", "LICENCE", "COPYING", "COPYING.md")
# (phrases that must all appear, SPDX id): most specific first.
_SIGNATURES = [
    (("apache license", "version 2.0"), "Apache-2.0"),
    (("mit license",), "MIT"),
    (("permission is hereby granted, free of charge",), "MIT"),
    (("redistribution and use in source and binary forms", "neither the name"), "BSD-3-Clause"),
    (("redistribution and use in source and binary forms",), "BSD-2-Clause"),
    (("mozilla public license", "2.0"), "MPL-2.0"),
    (("gnu affero general public license", "version 3"), "AGPL-3.0"),
    (("gnu lesser general public license",), "LGPL-3.0"),
    (("gnu general public license", "version 3"), "GPL-3.0"),
    (("gnu general public license", "version 2"), "GPL-2.0"),
    (("creative commons attribution 4.0",), "CC-BY-4.0"),
    (("cc0 1.0 universal",), "CC0-1.0"),
    (("this is free and unencumbered software released into the public domain",), "Unlicense"),
]


def find_license(path: Path, levels: int = 3) -> str:
    folder = path if path.is_dir() else path.parent
    for candidate_folder in [folder, *folder.parents][: levels + 1]:
        for name in _NAMES:
            candidate = candidate_folder / name
            if candidate.is_file():
                return spdx_of(candidate.read_text(errors="replace"))
    return "unknown"


def spdx_of(text: str) -> str:
    lowered = " ".join(text.lower().split())
    for phrases, spdx in _SIGNATURES:
        if all(phrase in lowered for phrase in phrases):
            return spdx
    return "unknown"
