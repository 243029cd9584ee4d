"""Keys scoped to one conversation: `user_keys.epoch` holds "day/answer_id" as well as a day, so
a deleted question's text can be shredded alone.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("user_keys") as batch:
        batch.alter_column("epoch", type_=sa.String(80), existing_nullable=False)


def downgrade() -> None:
    # Scoped keys do not fit a day-wide column: they go, and their texts stay unreadable.
    op.execute(sa.text("DELETE FROM user_keys WHERE epoch LIKE '%/%'"))
    with op.batch_alter_table("user_keys") as batch:
        batch.alter_column("epoch", type_=sa.String(10), existing_nullable=False)
