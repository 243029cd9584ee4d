"""The embedded PostgreSQL's memory: shared_buffers sized to the machine (an eighth of its memory,
128 MB to 1 GB) instead of PostgreSQL's 128 MB, which holds neither the HNSW index nor the table
of 100k chunks."""

from __future__ import annotations

import psutil
import psycopg

from adapters.store.embedded_postgres import EmbeddedPostgres, shared_buffers_mb


def test_shared_buffers_follow_the_machines_memory(embedded_pg: EmbeddedPostgres) -> None:
    expected = min(1024, max(128, psutil.virtual_memory().total // 8 // 2**20))
    assert shared_buffers_mb() == expected
    conninfo = f"postgresql://postgres@/postgres?host={embedded_pg.socket_dir}"
    with psycopg.connect(conninfo) as conn:
        row = conn.execute(
            "SELECT setting::bigint * 8192 / 1048576 FROM pg_settings WHERE name = 'shared_buffers'"
        ).fetchone()
    assert row is not None
    assert row[0] == expected
