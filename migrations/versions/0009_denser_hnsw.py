"""The knowledge index's HNSW graph built with a wider candidate list (ef_construction 200,
pgvector's default is 64; m stays 16): a better-connected graph, so a search scoped to a few
sources (a filtered, iterative scan) finds the scope's nearest chunks among the first it reads.
On 100k chunks with a 5% scope, recall@10 went from 0.91 to 0.97 at the same rows read
(`buddy bench vectors --scoped`); the build takes about 4 times as long. PostgreSQL only.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-09
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

INDEX = "ix_kb_chunks_embedding"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"DROP INDEX IF EXISTS {INDEX}")
    op.execute(
        f"CREATE INDEX {INDEX} ON kb_chunks USING hnsw (embedding vector_cosine_ops) "
        "WITH (m = 16, ef_construction = 200)"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"DROP INDEX IF EXISTS {INDEX}")
    op.execute(f"CREATE INDEX {INDEX} ON kb_chunks USING hnsw (embedding vector_cosine_ops)")
