"""Answer modes in the conversations projection, and full text over the chunk under its heading
path or symbol, not the bare chunk text: the PostgreSQL column is written by the index
projection instead of generated from `text`. The projection re-embeds on its next run (its
model label names the search-text recipe), which also fills the column again.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Answers given before this revision stay without a mode (they were all generated).
    op.add_column("conversations", sa.Column("answer_mode", sa.String(12), nullable=True))
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite's FTS5 table already holds whatever text the projection gives it
    op.execute("DROP INDEX IF EXISTS ix_kb_chunks_text")
    op.execute("ALTER TABLE kb_chunks DROP COLUMN text_search")
    op.execute("ALTER TABLE kb_chunks ADD COLUMN text_search tsvector")
    op.execute("UPDATE kb_chunks SET text_search = to_tsvector('english', locator || ' ' || text)")
    op.execute("CREATE INDEX ix_kb_chunks_text ON kb_chunks USING gin (text_search)")


def downgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("answer_mode")
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX IF EXISTS ix_kb_chunks_text")
    op.execute("ALTER TABLE kb_chunks DROP COLUMN text_search")
    op.execute(
        "ALTER TABLE kb_chunks ADD COLUMN text_search tsvector "
        "GENERATED ALWAYS AS (to_tsvector('english', text)) STORED"
    )
    op.execute("CREATE INDEX ix_kb_chunks_text ON kb_chunks USING gin (text_search)")
