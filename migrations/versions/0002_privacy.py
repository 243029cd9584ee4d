"""Privacy: per-user data keys (one per user per day, for crypto-shredding), the pepper's
fingerprint, and the consent projection.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

MOMENT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "user_keys",
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("epoch", sa.String(10), nullable=False),
        sa.Column("key", sa.LargeBinary, nullable=False),
        sa.Column("created_at", MOMENT, nullable=False),
        sa.PrimaryKeyConstraint("user_id", "epoch", name="pk_user_keys"),
    )
    op.create_index("ix_user_keys_epoch", "user_keys", ["epoch"])
    op.create_table(
        "privacy_settings",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("value", sa.String(200), nullable=False),
    )
    op.create_table(
        "consent",
        sa.Column("subject", sa.String(100), primary_key=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("position", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("consent")
    op.drop_table("privacy_settings")
    op.drop_index("ix_user_keys_epoch", table_name="user_keys")
    op.drop_table("user_keys")
