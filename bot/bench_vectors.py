"""`buddy bench vectors`: pgvector HNSW against an exact scan, at scale, on a private server.

The figures that matter are ratios and recall taken in one run (HNSW p50 at most 1/20 of the
exact scan's, recall@10 at least 0.95 at 100k vectors), so they compare across machines.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import psycopg

from adapters.store.embedded_postgres import EmbeddedPostgres

HNSW_M = 16
HNSW_EF_CONSTRUCTION = 64
INDEX_NAME = "bench_vectors_embedding_hnsw"
DATA_SEED = 20240501
QUERY_SEED = 7
# The load streams in slices so the COPY buffer stays small whatever the count.
COPY_ROWS_PER_WRITE = 5_000
# The leader builds too, so one worker keeps a 2-core machine busy without oversubscribing it.
PARALLEL_MAINTENANCE_WORKERS = 1
MAINTENANCE_WORK_MEM = "1GB"
TARGET_SPEEDUP = 20
TARGET_RECALL = 0.95

Vectors = np.ndarray  # (n, dim) float32, each row of unit length
TopK = Callable[[psycopg.Connection, str, int], list[int]]


async def bench_vectors(
    count: int = 100_000, dim: int = 384, queries: int = 200, k: int = 10, ef_search: int = 100
) -> dict[str, object]:
    """Load `count` random vectors into pgvector, index them with HNSW, and time top-k queries
    through the index and through an exact scan; recall is HNSW's overlap with the exact top-k."""
    with tempfile.TemporaryDirectory(prefix="buddy-bench-") as scratch:
        server = EmbeddedPostgres(Path(scratch) / "pg")
        url = server.acquire()
        try:
            conninfo = url.replace("postgresql+psycopg://", "postgresql://")
            return await asyncio.to_thread(_run, conninfo, count, dim, queries, k, ef_search)
        finally:
            server.release()


def _run(
    conninfo: str, count: int, dim: int, queries: int, k: int, ef_search: int
) -> dict[str, object]:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        conn.execute("DROP TABLE IF EXISTS bench_vectors")
        conn.execute(f"CREATE TABLE bench_vectors (id bigint PRIMARY KEY, embedding vector({dim}))")

        with _progress(f"loading {count} vectors of dim {dim}"):
            _load(conn, _unit_vectors(count, dim, DATA_SEED))
            # Fresh statistics and visibility map, so the planner sees the real table size.
            conn.execute("VACUUM ANALYZE bench_vectors")

        with _progress(f"building HNSW (m={HNSW_M}, ef_construction={HNSW_EF_CONSTRUCTION})"):
            build_s = _build_index(conn)

        conn.execute(f"SET hnsw.ef_search = {int(ef_search)}")
        query_vectors = [_literal(row) for row in _unit_vectors(queries, dim, QUERY_SEED)]
        _check_plans(conn, query_vectors[0], k)

        # Untimed warm-up, so neither path pays for a cold cache in its first samples.
        for vector in query_vectors[: min(5, queries)]:
            _top_k_hnsw(conn, vector, k)
            _top_k_exact(conn, vector, k)

        hnsw_ms: list[float] = []
        exact_ms: list[float] = []
        overlaps: list[float] = []
        with _progress(f"running {queries} queries, top-{k}, ef_search={ef_search}"):
            for vector in query_vectors:
                approx_ids, approx_s = _timed(_top_k_hnsw, conn, vector, k)
                exact_ids, exact_s = _timed(_top_k_exact, conn, vector, k)
                hnsw_ms.append(approx_s * 1000)
                exact_ms.append(exact_s * 1000)
                overlaps.append(len(set(approx_ids) & set(exact_ids)) / len(exact_ids))

    return _report(count, dim, queries, k, ef_search, build_s, hnsw_ms, exact_ms, overlaps)


def _unit_vectors(rows: int, dim: int, seed: int) -> Vectors:
    vectors = np.random.default_rng(seed).standard_normal((rows, dim), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


def _load(conn: psycopg.Connection, vectors: Vectors) -> None:
    """COPY in PostgreSQL's binary format, built with numpy: no per-value Python formatting."""
    rows, dim = vectors.shape
    # Per row: field count, id (length + int8), vector (length + pgvector's dim, unused, floats).
    row_type = np.dtype(
        [("fields", ">i2"), ("id_len", ">i4"), ("id", ">i8"), ("vec_len", ">i4"),
         ("dim", ">i2"), ("unused", ">i2"), ("values", ">f4", (dim,))]
    )  # fmt: skip
    header = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
    trailer = (-1).to_bytes(2, "big", signed=True)
    with (
        conn.cursor() as cur,
        cur.copy("COPY bench_vectors (id, embedding) FROM STDIN BINARY") as copy,
    ):
        copy.write(header)
        for start in range(0, rows, COPY_ROWS_PER_WRITE):
            stop = min(start + COPY_ROWS_PER_WRITE, rows)
            chunk = np.empty(stop - start, dtype=row_type)
            chunk["fields"] = 2
            chunk["id_len"] = 8
            chunk["id"] = np.arange(start, stop)
            chunk["vec_len"] = 4 + 4 * dim
            chunk["dim"] = dim
            chunk["unused"] = 0
            chunk["values"] = vectors[start:stop]
            copy.write(chunk.tobytes())
        copy.write(trailer)


def _build_index(conn: psycopg.Connection) -> float:
    conn.execute(f"SET maintenance_work_mem = '{MAINTENANCE_WORK_MEM}'")
    conn.execute(f"SET max_parallel_maintenance_workers = {PARALLEL_MAINTENANCE_WORKERS}")
    started = time.perf_counter()
    conn.execute(
        f"CREATE INDEX {INDEX_NAME} ON bench_vectors USING hnsw (embedding vector_cosine_ops)"
        f" WITH (m = {HNSW_M}, ef_construction = {HNSW_EF_CONSTRUCTION})"
    )
    build_s = time.perf_counter() - started
    conn.execute("ANALYZE bench_vectors")
    return build_s


TOP_K = "SELECT id FROM bench_vectors ORDER BY embedding <=> %s::vector LIMIT %s"


def _top_k_hnsw(conn: psycopg.Connection, vector: str, k: int) -> list[int]:
    return [row[0] for row in conn.execute(TOP_K, (vector, k))]


def _top_k_exact(conn: psycopg.Connection, vector: str, k: int) -> list[int]:
    with conn.transaction():
        # With index scans off, the planner can only scan the table and sort: the ground truth.
        conn.execute("SET LOCAL enable_indexscan = off")
        return [row[0] for row in conn.execute(TOP_K, (vector, k))]


def _check_plans(conn: psycopg.Connection, vector: str, k: int) -> None:
    """Fail loudly unless HNSW queries use the index and exact queries do not."""
    explain = f"EXPLAIN {TOP_K}"
    hnsw_plan = "\n".join(row[0] for row in conn.execute(explain, (vector, k)))
    with conn.transaction():
        conn.execute("SET LOCAL enable_indexscan = off")
        exact_plan = "\n".join(row[0] for row in conn.execute(explain, (vector, k)))
    if INDEX_NAME not in hnsw_plan:
        raise RuntimeError(f"the HNSW query does not use {INDEX_NAME}:\n{hnsw_plan}")
    if INDEX_NAME in exact_plan or "Seq Scan" not in exact_plan:
        raise RuntimeError(f"the exact query is not a sequential scan:\n{exact_plan}")
    _log(f"plans checked: HNSW uses {INDEX_NAME}; exact is a sequential scan")


def _report(
    count: int, dim: int, queries: int, k: int, ef_search: int, build_s: float,
    hnsw_ms: list[float], exact_ms: list[float], overlaps: list[float],
) -> dict[str, object]:  # fmt: skip
    hnsw_p50, hnsw_p99 = np.percentile(hnsw_ms, [50, 99])
    exact_p50, exact_p99 = np.percentile(exact_ms, [50, 99])
    recall = float(np.mean(overlaps))
    return {
        "count": count,
        "dim": dim,
        "queries": queries,
        "k": k,
        "ef_search": ef_search,
        "hnsw": {
            "m": HNSW_M,
            "ef_construction": HNSW_EF_CONSTRUCTION,
            "build_s": round(build_s, 2),
            "p50_ms": round(float(hnsw_p50), 3),
            "p99_ms": round(float(hnsw_p99), 3),
        },
        "exact": {"p50_ms": round(float(exact_p50), 3), "p99_ms": round(float(exact_p99), 3)},
        "recall_at_10": round(recall, 4),
        "ratios": {
            "hnsw_p50_vs_exact_p50": round(float(hnsw_p50 / exact_p50), 4),
            "hnsw_p99_vs_exact_p99": round(float(hnsw_p99 / exact_p99), 4),
            "exact_p50_vs_hnsw_p50": round(float(exact_p50 / hnsw_p50), 1),
        },
        "targets": {
            "hnsw_p50_at_most_1_20_of_exact": bool(hnsw_p50 * TARGET_SPEEDUP <= exact_p50),
            "recall_at_10_at_least_0_95": recall >= TARGET_RECALL,
        },
    }


def _timed(query: TopK, conn: psycopg.Connection, vector: str, k: int) -> tuple[list[int], float]:
    started = time.perf_counter()
    ids = query(conn, vector, k)
    return ids, time.perf_counter() - started


def _literal(vector: np.ndarray) -> str:
    # repr-exact float32 text, so the server parses back the very vector numpy made.
    return "[" + ",".join(repr(float(value)) for value in vector) + "]"


@contextmanager
def _progress(what: str) -> Iterator[None]:
    _log(f"{what}...")
    started = time.perf_counter()
    yield
    _log(f"{what}: done in {time.perf_counter() - started:.1f}s")


def _log(line: str) -> None:
    print(f"[bench vectors] {line}", file=sys.stderr, flush=True)
