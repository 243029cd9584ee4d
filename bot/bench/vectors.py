"""`buddy bench vectors`: pgvector HNSW against an exact scan, at scale, on a private server.

The figures that matter are ratios and recall taken in one run (HNSW p50 at most 1/20 of the
exact scan's, recall@10 at least 0.95 at 100k vectors), so they compare across machines.

`buddy bench vectors --scoped`: a search scoped to one source holding 5% of 100k chunks (a
channel's scope), through Buddy's own dense ranking on its own schema (the filter inside the
HNSW scan, pgvector's iterative index scan) against an exact scan of the scope's rows: recall@10
at least 0.95 at a p50 at most 1/10 of the exact scan's. The p50s of the target are the ranking
statements' (the query, as in the unscoped bench); Buddy's whole ranking, with its round trips
for the scope's size and the scan's settings, is reported beside them under "ranking".
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

from adapters.store import migrate
from adapters.store.database import Database, create_database
from adapters.store.embedded_postgres import EmbeddedPostgres
from adapters.vector import vectors as index_vectors

HNSW_M = 16
HNSW_EF_CONSTRUCTION = 64
INDEX_NAME = "bench_vectors_embedding_hnsw"
DATA_SEED = 20240501
QUERY_SEED = 7
# The load streams in slices so the COPY buffer stays small whatever the count.
COPY_ROWS_PER_WRITE = 5_000
WARM_UP_QUERIES = 5
# The leader builds too, so one worker keeps a 2-core machine busy without oversubscribing it.
PARALLEL_MAINTENANCE_WORKERS = 1
MAINTENANCE_WORK_MEM = "1GB"
TARGET_SPEEDUP = 20
TARGET_RECALL = 0.95

Vectors = np.ndarray  # (n, dim) float32, each row of unit length
TopK = Callable[[psycopg.Connection, str, int], list[int]]


async def bench_vectors(
    count: int = 100_000,
    dim: int = 384,
    queries: int = 200,
    k: int = 10,
    ef_search: int = 100,
    distribution: str = "clustered",
) -> dict[str, object]:
    """Load `count` random vectors into pgvector, index them with HNSW, and time top-k queries
    through the index and through an exact scan; recall is HNSW's overlap with the exact top-k."""
    with tempfile.TemporaryDirectory(prefix="buddy-bench-") as scratch:
        server = EmbeddedPostgres(Path(scratch) / "pg")
        url = server.acquire()
        try:
            conninfo = url.replace("postgresql+psycopg://", "postgresql://")
            result = await asyncio.to_thread(
                _run, conninfo, count, dim, queries, k, ef_search, distribution
            )
            return {"distribution": distribution, **result}
        finally:
            server.release()


def _run(
    conninfo: str, count: int, dim: int, queries: int, k: int, ef_search: int, distribution: str
) -> dict[str, object]:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        conn.execute("DROP TABLE IF EXISTS bench_vectors")
        conn.execute(f"CREATE TABLE bench_vectors (id bigint PRIMARY KEY, embedding vector({dim}))")

        with _progress(f"loading {count} vectors of dim {dim}"):
            _load(conn, _random_vectors(distribution, count, dim, DATA_SEED))
            # Fresh statistics and visibility map, so the planner sees the real table size.
            conn.execute("VACUUM ANALYZE bench_vectors")

        with _progress(f"building HNSW (m={HNSW_M}, ef_construction={HNSW_EF_CONSTRUCTION})"):
            build_s = _build_index(conn)

        conn.execute(f"SET hnsw.ef_search = {int(ef_search)}")
        query_vectors = [
            _literal(row) for row in _random_vectors(distribution, queries, dim, QUERY_SEED)
        ]
        _check_plans(conn, query_vectors[0], k)

        # One pass per path, each after an untimed warm-up: interleaving them would make every
        # HNSW query pay for the CPU caches and buffers the exact scan before it just flushed.
        with _progress(f"running {queries} HNSW queries, top-{k}, ef_search={ef_search}"):
            hnsw_ids, hnsw_ms = _run_pass(_top_k_hnsw, conn, query_vectors, k)
        with _progress(f"running {queries} exact queries, top-{k}"):
            exact_ids, exact_ms = _run_pass(_top_k_exact, conn, query_vectors, k)
        overlaps = [
            len(set(approx) & set(exact)) / len(exact)
            for approx, exact in zip(hnsw_ids, exact_ids, strict=True)
        ]

    return _report(count, dim, queries, k, ef_search, build_s, hnsw_ms, exact_ms, overlaps)


CLUSTERS = 1000
CLUSTER_SPREAD = 0.5  # noise norm relative to the (unit) cluster centre
CENTRES_SEED = 3


def _random_vectors(distribution: str, rows: int, dim: int, seed: int) -> Vectors:
    """`uniform`: directions uniform on the sphere, where every point is about equally far from
    every other and no index can navigate (recall ~0.12 at 100k x 384). `clustered`: random points
    around random centres, shaped like real sentence embeddings (topics); queries come from the
    same centres. Both are random; the report names the one used."""
    if distribution == "uniform":
        return _unit_vectors(rows, dim, seed)
    if distribution != "clustered":
        raise ValueError(f"unknown distribution {distribution!r}: clustered or uniform")
    centres = _unit_vectors(CLUSTERS, dim, CENTRES_SEED)
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((rows, dim), dtype=np.float32) * (CLUSTER_SPREAD / np.sqrt(dim))
    vectors = centres[rng.integers(0, CLUSTERS, rows)] + noise
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.asarray(vectors, dtype=np.float32)


def _unit_vectors(rows: int, dim: int, seed: int) -> Vectors:
    vectors = np.random.default_rng(seed).standard_normal((rows, dim), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


def _load(conn: psycopg.Connection, vectors: Vectors) -> None:
    _copy_binary(conn, "COPY bench_vectors (id, embedding) FROM STDIN BINARY", vectors)


def _copy_binary(
    conn: psycopg.Connection, statement: str, vectors: Vectors, owners: np.ndarray | None = None
) -> None:
    """COPY rows (id, [owner,] vector) in PostgreSQL's binary format, built with numpy: no
    per-value Python formatting. Row i is id i, owners[i] when given, and vectors[i]."""
    rows, dim = vectors.shape
    # Per row: field count, id (length + int8), the owner (length + int4), vector (length +
    # pgvector's dim, unused, floats).
    owner_fields = [] if owners is None else [("owner_len", ">i4"), ("owner", ">i4")]
    row_type = np.dtype(
        [("fields", ">i2"), ("id_len", ">i4"), ("id", ">i8"), *owner_fields, ("vec_len", ">i4"),
         ("dim", ">i2"), ("unused", ">i2"), ("values", ">f4", (dim,))]
    )  # fmt: skip
    header = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
    with conn.cursor() as cur, cur.copy(statement) as copy:
        copy.write(header)
        for start in range(0, rows, COPY_ROWS_PER_WRITE):
            stop = min(start + COPY_ROWS_PER_WRITE, rows)
            chunk = np.empty(stop - start, dtype=row_type)
            chunk["fields"] = 2 if owners is None else 3
            chunk["id_len"] = 8
            chunk["id"] = np.arange(start, stop)
            if owners is not None:
                chunk["owner_len"] = 4
                chunk["owner"] = owners[start:stop]
            chunk["vec_len"] = 4 + 4 * dim
            chunk["dim"] = dim
            chunk["unused"] = 0
            chunk["values"] = vectors[start:stop]
            copy.write(chunk.tobytes())
        copy.write((-1).to_bytes(2, "big", signed=True))


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


def _run_pass(
    top_k: TopK, conn: psycopg.Connection, vectors: list[str], k: int
) -> tuple[list[list[int]], list[float]]:
    """Each query's ids and its latency in milliseconds."""
    for vector in vectors[:WARM_UP_QUERIES]:
        top_k(conn, vector, k)
    results: list[list[int]] = []
    latencies_ms: list[float] = []
    for vector in vectors:
        started = time.perf_counter()
        results.append(top_k(conn, vector, k))
        latencies_ms.append((time.perf_counter() - started) * 1000)
    return results, latencies_ms


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


# --- scoped search (`--scoped`) -------------------------------------------------------------

SCOPED_SOURCES = 20  # sources of equal size; the scope is one of them: 5% of the chunks
SCOPED_TARGET_SPEEDUP = 10
SCOPED_INDEX = "ix_kb_chunks_embedding"  # the knowledge index's own (migration 0003)
STAGING = "bench_scoped_staging"


def source_name(number: int) -> str:
    return f"bench-source-{number}"


async def bench_scoped_vectors(
    count: int = 100_000,
    dim: int = 384,
    queries: int = 200,
    k: int = 10,
    sources: int = SCOPED_SOURCES,
    distribution: str = "clustered",
) -> dict[str, object]:
    """Load `count` random chunks, spread evenly and at random over `sources` sources, into the
    knowledge index's tables (Buddy's migrations, its HNSW index), then rank top-k of one
    source with Buddy's scoped dense ranking and with an exact scan of that source's rows."""
    if sources < 2 or count < sources * k:
        raise ValueError(f"need at least 2 sources of {k} chunks each")
    with tempfile.TemporaryDirectory(prefix="buddy-bench-") as scratch:
        server = EmbeddedPostgres(Path(scratch) / "pg")
        url = server.acquire()
        db = create_database(url)
        try:
            await migrate.upgrade(db)
            conninfo = url.replace("postgresql+psycopg://", "postgresql://")
            owners = np.random.default_rng(DATA_SEED).permutation(count) % sources
            build_s, definition = await asyncio.to_thread(
                _load_scoped, conninfo, _random_vectors(distribution, count, dim, DATA_SEED),
                owners, sources,
            )  # fmt: skip
            scope = [source_name(0)]
            query_vectors = _random_vectors(distribution, queries, dim, QUERY_SEED)
            await _check_scoped_plans(db, query_vectors[0], k, scope)
            with _progress(f"running {queries} scoped HNSW rankings, top-{k}"):
                scoped_ids, scoped_ms = await _run_scoped_pass(
                    db, query_vectors, k, scope, exact=False
                )
            with _progress(f"running {queries} exact rankings of the scope, top-{k}"):
                exact_ids, exact_ms = await _run_scoped_pass(
                    db, query_vectors, k, scope, exact=True
                )
            with _progress(f"timing the {queries} scoped and exact statements alone"):
                statement_ms = await _time_statements(db, query_vectors, k, scope)
        finally:
            await db.dispose()
            server.release()
    owned = {f"c{i}" for i in np.flatnonzero(owners == 0)}
    if any(set(ids) - owned for ids in scoped_ids):
        raise RuntimeError("the scoped search returned chunks outside the scope")
    overlaps = [
        len(set(found) & set(exact)) / len(exact)
        for found, exact in zip(scoped_ids, exact_ids, strict=True)
    ]
    return _scoped_report(
        count, dim, queries, k, len(owned), distribution, build_s, overlaps,
        [len(found) for found in scoped_ids], definition,
        {"statement": statement_ms, "ranking": (scoped_ms, exact_ms)},
    )  # fmt: skip


def _load_scoped(
    conninfo: str, vectors: Vectors, owners: np.ndarray, sources: int
) -> tuple[float, str]:
    """The chunks into kb_chunks (source `owners[i]` for chunk i) with a document per source in
    kb_documents, then the HNSW index built again from the migrations' own definition (its
    build parameters included); the build's seconds and that definition."""
    rows, dim = vectors.shape
    with psycopg.connect(conninfo, autocommit=True) as conn:
        found = conn.execute("SELECT pg_get_indexdef(%s::regclass)", (SCOPED_INDEX,)).fetchone()
        assert found is not None
        definition = str(found[0])
        conn.execute(f"DROP INDEX {SCOPED_INDEX}")  # built once, after the load
        conn.execute(f"ALTER TABLE kb_chunks ALTER COLUMN embedding TYPE vector({dim})")
        conn.execute(
            f"CREATE UNLOGGED TABLE {STAGING} (id bigint, source int, embedding vector({dim}))"
        )
        with _progress(f"loading {rows} chunks of dim {dim} in {sources} sources"):
            _copy_binary(conn, f"COPY {STAGING} FROM STDIN BINARY", vectors, owners)
            conn.execute(
                "INSERT INTO kb_chunks (chunk_id, document_id, source_id, path, locator, "
                "start_line, end_line, kind, text, model, dimension, embedding) "
                "SELECT 'c' || id, 'd' || source, 'bench-source-' || source, "
                "'bench/' || source || '.md', '', 1, 1, 'prose', 'chunk ' || id, 'bench', "
                f"{dim}, embedding FROM {STAGING}"
            )
            conn.execute(
                "INSERT INTO kb_documents (document_id, source_id, path, content_hash, "
                "chunk_count, ingested_at) SELECT 'd' || source, 'bench-source-' || source, "
                f"'bench/' || source || '.md', 'h', count(*), now() FROM {STAGING} "
                "GROUP BY source"
            )
            conn.execute(f"DROP TABLE {STAGING}")
            conn.execute("VACUUM ANALYZE kb_chunks")
            conn.execute("ANALYZE kb_documents")
        with _progress(f"building the knowledge index's HNSW over {rows} chunks"):
            conn.execute(f"SET maintenance_work_mem = '{MAINTENANCE_WORK_MEM}'")
            conn.execute(f"SET max_parallel_maintenance_workers = {PARALLEL_MAINTENANCE_WORKERS}")
            started = time.perf_counter()
            conn.execute(definition)  # PostgreSQL's own DDL for it
            build_s = time.perf_counter() - started
            conn.execute("ANALYZE kb_chunks")
    return build_s, definition


async def _check_scoped_plans(db: Database, vector: np.ndarray, k: int, scope: list[str]) -> None:
    """Fail loudly unless the scoped query filters inside the HNSW scan and the exact one
    scans the table."""
    async with db.read() as conn:
        plan = await index_vectors.explain_scoped_dense(conn, vector, k, scope)
        exact = await index_vectors.explain_scoped_dense(conn, vector, k, scope, exact=True)
    if f"Index Scan using {SCOPED_INDEX}" not in plan or "Filter" not in plan:
        raise RuntimeError(f"the scoped query does not filter inside {SCOPED_INDEX}:\n{plan}")
    if SCOPED_INDEX in exact or "Seq Scan" not in exact:
        raise RuntimeError(f"the exact query is not a sequential scan:\n{exact}")
    _log(f"plans checked: the scope filters inside {SCOPED_INDEX}; exact is a sequential scan")


async def _run_scoped_pass(
    db: Database, vectors: Vectors, k: int, scope: list[str], *, exact: bool
) -> tuple[list[list[str]], list[float]]:
    """Each query's chunk ids and its latency in milliseconds: a read transaction with what
    Buddy runs in it (the scope's size, the settings, the ranking), as a search does."""

    async def top_k(vector: np.ndarray) -> list[str]:
        async with db.read() as conn:
            if exact:
                ranked = await index_vectors.exact_ranking_postgres(conn, vector, k, scope)
            else:
                ranked = await index_vectors.dense_ranking_postgres(conn, vector, k, scope)
        return [chunk_id for chunk_id, _ in ranked]

    for vector in vectors[:WARM_UP_QUERIES]:
        await top_k(vector)
    results: list[list[str]] = []
    latencies_ms: list[float] = []
    for vector in vectors:
        started = time.perf_counter()
        results.append(await top_k(vector))
        latencies_ms.append((time.perf_counter() - started) * 1000)
    return results, latencies_ms


async def _time_statements(
    db: Database, vectors: Vectors, k: int, scope: list[str]
) -> tuple[list[float], list[float]]:
    """Each query's ranking statement alone, in milliseconds: the scoped one (the scan set up
    as Buddy sets it up, untimed) and the exact one, in the same harness."""
    fetch = max(k, index_vectors.SCOPED_MIN_FETCH)

    async def timed(vector: np.ndarray, exact: bool) -> float:
        async with db.read() as conn:
            if not exact:
                await index_vectors.set_up_scoped_scan(conn, scope, fetch)
            started = time.perf_counter()
            if exact:
                await index_vectors.exact_ranking_postgres(conn, vector, k, scope)
            else:
                await index_vectors.scoped_hnsw_ranking(conn, vector, fetch, scope)
            return (time.perf_counter() - started) * 1000

    for vector in vectors[:WARM_UP_QUERIES]:
        await timed(vector, False)
        await timed(vector, True)
    scoped = [await timed(vector, False) for vector in vectors]
    exact = [await timed(vector, True) for vector in vectors]
    return scoped, exact


def _scoped_report(
    count: int, dim: int, queries: int, k: int, scoped: int, distribution: str, build_s: float,
    overlaps: list[float], found: list[int], definition: str,
    timings: dict[str, tuple[list[float], list[float]]],
) -> dict[str, object]:  # fmt: skip
    """Recall, and p50/p99 of the statement alone (what the target is on: the query against
    the exact scan) and of Buddy's whole ranking (its read transaction, the scope's size and
    the scan's settings in one round trip, the statement, the settings put back)."""
    recall = float(np.mean(overlaps))
    latency = {name: _latency(*pair) for name, pair in timings.items()}
    statement = latency["statement"]
    return {
        "distribution": distribution,
        "count": count,
        "dim": dim,
        "queries": queries,
        "k": k,
        "scoped_chunks": scoped,
        "scope_share": round(scoped / count, 4),
        "hnsw": {
            "build_s": round(build_s, 2),
            "index": definition,
            "iterative_scan": "relaxed_order",
            "fetched": max(k, index_vectors.SCOPED_MIN_FETCH),  # of which the best k are kept
            "ef_search": index_vectors.ef_search(max(k, index_vectors.SCOPED_MIN_FETCH)),
            "max_scan_tuples": index_vectors.MAX_SCAN_TUPLES,
        },
        "recall_at_10": round(recall, 4),
        "min_results": min(found),
        **{f"{key}": value for key, value in statement.items()},
        "ranking": latency["ranking"],
        "targets": {
            "recall_at_10_at_least_0_95": recall >= TARGET_RECALL,
            "p50_at_most_1_10_of_exact": bool(statement["ratio"] * SCOPED_TARGET_SPEEDUP <= 1),
        },
    }


def _latency(scoped_ms: list[float], exact_ms: list[float]) -> dict[str, float]:
    scoped_p50, scoped_p99 = np.percentile(scoped_ms, [50, 99])
    exact_p50, exact_p99 = np.percentile(exact_ms, [50, 99])
    return {
        "p50_ms_scoped": round(float(scoped_p50), 3),
        "p99_ms_scoped": round(float(scoped_p99), 3),
        "p50_ms_exact": round(float(exact_p50), 3),
        "p99_ms_exact": round(float(exact_p99), 3),
        "ratio": round(float(scoped_p50 / exact_p50), 4),
    }
