"""Event store: events, tracking, inbox, outbox, and the event-type counts projection.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Frozen copies of the column types: a migration must not change when the app's schema does.
JSON_DOCUMENT = sa.JSON().with_variant(JSONB(), "postgresql")
AUTO_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
MOMENT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.Column("stream_id", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("type", sa.String(100), nullable=False),
        sa.Column("schema_version", sa.Integer, nullable=False),
        sa.Column("payload", JSON_DOCUMENT, nullable=False),
        sa.Column("metadata", JSON_DOCUMENT, nullable=False),
        sa.Column("recorded_at", MOMENT, nullable=False),
        sa.PrimaryKeyConstraint("stream_id", "version", name="pk_events"),
        sa.UniqueConstraint("position", name="uq_events_position"),
        sa.CheckConstraint("version >= 0", name="ck_events_version"),
        sa.CheckConstraint("position > 0", name="ck_events_position"),
    )
    op.create_index("ix_events_type_position", "events", ["type", "position"])
    op.create_table(
        "tracking",
        sa.Column("consumer", sa.String(100), primary_key=True),
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.Column("updated_at", MOMENT, nullable=False),
    )
    op.create_table(
        "inbox",
        sa.Column("key", sa.String(300), primary_key=True),
        sa.Column("stream_id", sa.String(200), nullable=False),
        sa.Column("first_version", sa.Integer, nullable=False),
        sa.Column("last_version", sa.Integer, nullable=False),
        sa.Column("first_position", sa.BigInteger, nullable=False),
        sa.Column("last_position", sa.BigInteger, nullable=False),
        sa.Column("received_at", MOMENT, nullable=False),
    )
    op.create_table(
        "outbox",
        sa.Column("id", AUTO_ID, primary_key=True, autoincrement=True),
        sa.Column("destination", sa.String(300), nullable=False),
        sa.Column("payload", JSON_DOCUMENT, nullable=False),
        sa.Column("causation_position", sa.BigInteger, nullable=True),
        sa.Column("created_at", MOMENT, nullable=False),
        sa.Column("sent_at", MOMENT, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_index(
        "ix_outbox_pending",
        "outbox",
        ["id"],
        postgresql_where=sa.text("sent_at IS NULL"),
        sqlite_where=sa.text("sent_at IS NULL"),
    )
    op.create_table(
        "event_type_counts",
        sa.Column("type", sa.String(100), primary_key=True),
        sa.Column("count", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("event_type_counts")
    op.drop_index("ix_outbox_pending", table_name="outbox")
    op.drop_table("outbox")
    op.drop_table("inbox")
    op.drop_table("tracking")
    op.drop_index("ix_events_type_position", table_name="events")
    op.drop_table("events")
