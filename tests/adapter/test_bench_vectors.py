"""The pgvector benchmark's plumbing, at a toy size: a private server, a load, an HNSW index,
both query paths and the report. No timing is asserted beyond "measured"."""

from __future__ import annotations

import json

from bot.bench.vectors import bench_vectors


async def test_bench_vectors_reports_every_figure_at_a_small_size() -> None:
    result = await bench_vectors(count=2000, dim=16, queries=20, k=10)

    json.dumps(result)  # the CLI prints it as JSON
    assert {key: result[key] for key in ("count", "dim", "queries", "k", "ef_search")} == {
        "count": 2000,
        "dim": 16,
        "queries": 20,
        "k": 10,
        "ef_search": 100,
    }
    hnsw, exact, ratios, targets = (
        result["hnsw"], result["exact"], result["ratios"], result["targets"]
    )  # fmt: skip
    assert isinstance(hnsw, dict)
    assert isinstance(exact, dict)
    assert isinstance(ratios, dict)
    assert isinstance(targets, dict)
    assert set(hnsw) == {"m", "ef_construction", "build_s", "p50_ms", "p99_ms"}
    assert set(exact) == {"p50_ms", "p99_ms"}
    assert hnsw["build_s"] > 0
    for timings in (hnsw, exact):
        assert 0 < timings["p50_ms"] <= timings["p99_ms"]
    recall = result["recall_at_10"]
    assert isinstance(recall, float)
    assert 0.0 <= recall <= 1.0
    assert ratios["hnsw_p50_vs_exact_p50"] > 0
    assert set(targets) == {"hnsw_p50_at_most_1_20_of_exact", "recall_at_10_at_least_0_95"}
    assert all(isinstance(met, bool) for met in targets.values())
