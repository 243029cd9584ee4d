"""Platform messages the bot posted, with the answer each carries.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "platform_messages",
        sa.Column("platform", sa.String(20), nullable=False),
        sa.Column("channel_id", sa.String(100), nullable=False),
        sa.Column("message_id", sa.String(100), nullable=False),
        sa.Column("answer_id", sa.String(64), nullable=False),
        sa.Column("thread_id", sa.String(100), nullable=True),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(
            "platform", "channel_id", "message_id", name="pk_platform_messages"
        ),
    )
    op.create_index("ix_platform_messages_answer", "platform_messages", ["answer_id"])
    op.create_index(
        "ix_platform_messages_thread", "platform_messages", ["platform", "channel_id", "thread_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_platform_messages_thread", table_name="platform_messages")
    op.drop_index("ix_platform_messages_answer", table_name="platform_messages")
    op.drop_table("platform_messages")
