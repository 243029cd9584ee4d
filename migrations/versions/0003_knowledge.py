"""Knowledge base: sources, documents and chunks with embeddings and full text.

PostgreSQL: pgvector `vector(384)` with an HNSW (cosine) index, and a generated tsvector with GIN.
SQLite: embeddings as float32 blobs, and an FTS5 table for the text.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

DIMENSION = 384  # all-MiniLM-L6-v2; another model with another size needs a new migration
MOMENT = sa.DateTime(timezone=True)


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.create_table(
        "kb_sources",
        sa.Column("source_id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("root", sa.String(1000), nullable=False),
        sa.Column("license", sa.String(100), nullable=False),
        sa.Column("registered_at", MOMENT, nullable=False),
    )
    op.create_table(
        "kb_documents",
        sa.Column("document_id", sa.String(64), primary_key=True),
        sa.Column("source_id", sa.String(64), nullable=False),
        sa.Column("path", sa.String(1000), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("chunk_count", sa.Integer, nullable=False),
        sa.Column("ingested_at", MOMENT, nullable=False),
    )
    op.create_index("ix_kb_documents_source", "kb_documents", ["source_id", "path"], unique=True)
    op.create_table(
        "kb_chunks",
        sa.Column("chunk_id", sa.String(64), primary_key=True),
        sa.Column("document_id", sa.String(64), nullable=False),
        sa.Column("source_id", sa.String(64), nullable=False),
        sa.Column("path", sa.String(1000), nullable=False),
        sa.Column("locator", sa.String(500), nullable=False),
        sa.Column("start_line", sa.Integer, nullable=False),
        sa.Column("end_line", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("dimension", sa.Integer, nullable=False),
        sa.Column("embedding", sa.LargeBinary, nullable=True),  # SQLite; replaced below on PG
    )
    op.create_index("ix_kb_chunks_document", "kb_chunks", ["document_id"])
    if postgres:
        op.execute("CREATE EXTENSION IF NOT EXISTS vector")
        op.execute("ALTER TABLE kb_chunks DROP COLUMN embedding")
        op.execute(f"ALTER TABLE kb_chunks ADD COLUMN embedding vector({DIMENSION}) NOT NULL")
        op.execute(
            "ALTER TABLE kb_chunks ADD COLUMN text_search tsvector "
            "GENERATED ALWAYS AS (to_tsvector('english', text)) STORED"
        )
        op.execute(
            "CREATE INDEX ix_kb_chunks_embedding ON kb_chunks "
            "USING hnsw (embedding vector_cosine_ops)"
        )
        op.execute("CREATE INDEX ix_kb_chunks_text ON kb_chunks USING gin (text_search)")
    else:
        op.execute(
            "CREATE VIRTUAL TABLE kb_chunks_fts USING fts5("
            "chunk_id UNINDEXED, text, tokenize = 'porter unicode61')"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        op.execute("DROP TABLE kb_chunks_fts")
    op.drop_index("ix_kb_chunks_document", table_name="kb_chunks")
    op.drop_table("kb_chunks")
    op.drop_index("ix_kb_documents_source", table_name="kb_documents")
    op.drop_table("kb_documents")
    op.drop_table("kb_sources")
