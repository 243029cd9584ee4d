"""`buddy bench vectors --scoped` at a toy size: Buddy's schema on a private server, the chunks
spread over sources, the plans checked (the scope filters inside the HNSW scan, the exact side
scans the table), both sides timed and the report. No timing is asserted beyond "measured"."""

from __future__ import annotations

import json

from bot.bench.vectors import bench_scoped_vectors


async def test_bench_scoped_vectors_reports_every_figure_at_a_small_size() -> None:
    result = await bench_scoped_vectors(count=2000, dim=16, queries=20, k=10)

    json.dumps(result)  # the CLI prints it as JSON
    assert {key: result[key] for key in ("count", "dim", "queries", "k", "scoped_chunks")} == {
        "count": 2000, "dim": 16, "queries": 20, "k": 10, "scoped_chunks": 100,
    }  # fmt: skip
    assert result["scope_share"] == 0.05
    assert result["min_results"] == 10  # every scoped query found k chunks of the scope
    recall = result["recall_at_10"]
    assert isinstance(recall, float)
    assert 0.9 <= recall <= 1.0  # a hundred chunks in scope: nearly exact at this size
    ranking = result["ranking"]
    assert isinstance(ranking, dict)
    for key in ("p50_ms_scoped", "p99_ms_scoped", "p50_ms_exact", "p99_ms_exact", "ratio"):
        for measured in (result, ranking):  # the statements alone, and the whole ranking
            assert isinstance(measured[key], float)
            assert measured[key] > 0
    # The whole ranking adds its round trips to the scoped statement
    assert ranking["p50_ms_scoped"] > result["p50_ms_scoped"]
    hnsw, targets = result["hnsw"], result["targets"]
    assert isinstance(hnsw, dict)
    assert hnsw["iterative_scan"] == "relaxed_order"
    assert "ef_construction='200'" in hnsw["index"]  # rebuilt as migration 0009 defines it
    assert isinstance(targets, dict)
    assert set(targets) == {"recall_at_10_at_least_0_95", "p50_at_most_1_10_of_exact"}
    assert all(isinstance(met, bool) for met in targets.values())
