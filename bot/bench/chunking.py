"""`buddy bench chunking`: chunking cost against input size. Each case is chunked at n and at 2n;
the time ratio is about 2 where the cost is linear and about 4 where it is quadratic (the
regression the pathological lines guard against: unmatched inline markup re-scanned to the end of
the line). A megabyte of ordinary markdown gives the throughput, for context."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

from domain.knowledge.chunking import chunk_file

# Unmatched markup on one long line, the shapes that once cost quadratic time; n repetitions.
PATHOLOGICAL: dict[str, Callable[[int], str]] = {
    "emphasis": lambda n: "*a " * n,
    "strong": lambda n: "**a " * n,
    "underscore": lambda n: "_a " * n,
    "link": lambda n: "[a](" * n,
    "strike": lambda n: "~~a " * n,
    "code span": lambda n: "``a`" * n,
    "autolink": lambda n: "<http:a" * n,
    "word underscore": lambda n: "a.a_ " * n,
    "blank code span": lambda n: "`a " + " " * n + "<",
}
SUFFIXES = (".md", ".rst")
LINEAR_MAX = 3.0  # a doubling ratio above this looks super-linear


def markdown_document(sections: int) -> str:
    paragraph = "Some *text* with a [link](https://x.org/{i}) and `code_span`. " * 4
    section = (
        f"## Section {{i}}\n\n{paragraph}\n\n```python\n# comment {{i}}\nprint({{i}})\n```\n\n"
        "| a | b |\n|---|---|\n| 1 | 2 |\n\n<!-- note {i} -->\n\n"
    )
    return "# Big\n\n" + "".join(section.format(i=i) for i in range(sections))


def _best_of(runs: int, work: Callable[[], object]) -> float:
    """The fastest of a few runs: a busy machine slows some runs, never speeds one up."""
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    return best


def _doubling(name: str, text_at: Callable[[int], str], n: int, runs: int) -> float:
    small, large = text_at(n), text_at(2 * n)
    small_s = _best_of(runs, lambda: chunk_file(name, small))
    large_s = _best_of(runs, lambda: chunk_file(name, large))
    return large_s / small_s if small_s > 0 else 0.0


def bench_chunking(n: int = 20_000, sections: int = 3000, runs: int = 3) -> dict[str, Any]:
    print("  chunking: a megabyte of markdown ...", file=sys.stderr, flush=True)
    document = markdown_document(sections)
    megabyte_s = _best_of(runs, lambda: chunk_file("big.md", document))
    document_ratio = _doubling("big.md", markdown_document, sections // 2, runs)
    print("  chunking: pathological lines at n and 2n ...", file=sys.stderr, flush=True)
    lines = {
        f"{case}{suffix}": round(_doubling(f"a{suffix}", text_at, n, runs), 2)
        for case, text_at in PATHOLOGICAL.items()
        for suffix in SUFFIXES
    }
    worst = max(lines, key=lambda key: lines[key])
    return {
        "markdown_bytes": len(document.encode()),
        "markdown_mb_per_s": round(len(document.encode()) / 1e6 / megabyte_s, 2),
        "pathological_n": n,
        "doubling_ratios": lines,
        "ratios": {
            "markdown_2x_size_time": round(document_ratio, 2),
            "worst_pathological_2x_size_time": lines[worst],
            "worst_case": worst,
            "all_linear": max(document_ratio, *lines.values()) <= LINEAR_MAX,
        },
    }
