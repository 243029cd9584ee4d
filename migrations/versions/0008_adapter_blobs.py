"""Trained adapters' files in the database, by sha256, so every replica can serve the version
the registry names (ADR 0008): the GGUF LoRA llama.cpp loads and the peft folder the gate
evaluates against, each split into chunks of a few MiB.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "adapter_blobs",
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("chunk", sa.Integer, nullable=False),
        sa.Column("chunks", sa.Integer, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sha256", "chunk", name="pk_adapter_blobs"),
    )


def downgrade() -> None:
    op.drop_table("adapter_blobs")
