"""Conversations: a projection of questions, answers and current votes, for threads and stats.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "conversations",
        sa.Column("answer_id", sa.String(64), primary_key=True),
        sa.Column("thread", sa.String(64), nullable=True),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("follow_up", sa.Boolean, nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("model_version", sa.String(200), nullable=True),
        sa.Column("question", sa.Text, nullable=False),
        sa.Column("answer", sa.Text, nullable=True),
        sa.Column("asked_position", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_conversations_thread", "conversations", ["thread", "asked_position"])
    op.create_table(
        "votes",
        sa.Column("answer_id", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("value", sa.SmallInteger, nullable=False),
        sa.Column("by_asker", sa.Boolean, nullable=False),
        sa.PrimaryKeyConstraint("answer_id", "user_id", name="pk_votes"),
    )


def downgrade() -> None:
    op.drop_table("votes")
    op.drop_index("ix_conversations_thread", table_name="conversations")
    op.drop_table("conversations")
