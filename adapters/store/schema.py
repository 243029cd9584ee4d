"""Table shapes the store queries. Alembic migrations own the DDL; this only describes it."""

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

metadata = sa.MetaData()

# JSONB on PostgreSQL (indexable, compact); JSON text on SQLite.
JsonDocument = sa.JSON().with_variant(JSONB(), "postgresql")
# SQLite only auto-numbers an INTEGER PRIMARY KEY, not a BIGINT one.
AutoId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

events = sa.Table(
    "events",
    metadata,
    sa.Column("position", sa.BigInteger, nullable=False, unique=True),
    sa.Column("stream_id", sa.String(200), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("type", sa.String(100), nullable=False),
    sa.Column("schema_version", sa.Integer, nullable=False),
    sa.Column("payload", JsonDocument, nullable=False),
    sa.Column("metadata", JsonDocument, nullable=False),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
)

tracking = sa.Table(
    "tracking",
    metadata,
    sa.Column("consumer", sa.String(100), primary_key=True),
    sa.Column("position", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

inbox = sa.Table(
    "inbox",
    metadata,
    sa.Column("key", sa.String(300), primary_key=True),
    sa.Column("stream_id", sa.String(200), nullable=False),
    sa.Column("first_version", sa.Integer, nullable=False),
    sa.Column("last_version", sa.Integer, nullable=False),
    sa.Column("first_position", sa.BigInteger, nullable=False),
    sa.Column("last_position", sa.BigInteger, nullable=False),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
)

outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", AutoId, primary_key=True, autoincrement=True),
    sa.Column("destination", sa.String(300), nullable=False),
    sa.Column("payload", JsonDocument, nullable=False),
    sa.Column("causation_position", sa.BigInteger, nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
)

event_type_counts = sa.Table(
    "event_type_counts",
    metadata,
    sa.Column("type", sa.String(100), primary_key=True),
    sa.Column("count", sa.BigInteger, nullable=False),
)

user_keys = sa.Table(
    "user_keys",
    metadata,
    sa.Column("user_id", sa.String(64), primary_key=True),
    sa.Column("epoch", sa.String(80), primary_key=True),  # a day, or "day/scope"
    sa.Column("key", sa.LargeBinary, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

privacy_settings = sa.Table(
    "privacy_settings",
    metadata,
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("value", sa.String(200), nullable=False),
)

consent = sa.Table(
    "consent",
    metadata,
    sa.Column("subject", sa.String(100), primary_key=True),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("position", sa.BigInteger, nullable=False),
)

kb_sources = sa.Table(
    "kb_sources",
    metadata,
    sa.Column("source_id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("root", sa.String(1000), nullable=False),
    sa.Column("license", sa.String(100), nullable=False),
    sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
)

kb_documents = sa.Table(
    "kb_documents",
    metadata,
    sa.Column("document_id", sa.String(64), primary_key=True),
    sa.Column("source_id", sa.String(64), nullable=False),
    sa.Column("path", sa.String(1000), nullable=False),
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("chunk_count", sa.Integer, nullable=False),
    sa.Column("ingested_at", sa.DateTime(timezone=True), nullable=False),
)

# The embedding column differs per dialect (pgvector / float32 blob) and is written with SQL text.
kb_chunks = sa.Table(
    "kb_chunks",
    metadata,
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
)

# The conversations projection: one row per question, and the current vote of each rater.
conversations = sa.Table(
    "conversations",
    metadata,
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
    # generated, extractive or declined; null before answer modes were recorded
    sa.Column("answer_mode", sa.String(12), nullable=True),
)

votes = sa.Table(
    "votes",
    metadata,
    sa.Column("answer_id", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.String(64), primary_key=True),
    sa.Column("value", sa.SmallInteger, nullable=False),
    sa.Column("by_asker", sa.Boolean, nullable=False),
)

# Platform messages the bot posted, and the answer each carries (adapters' bookkeeping).
platform_messages = sa.Table(
    "platform_messages",
    metadata,
    sa.Column("platform", sa.String(20), primary_key=True),
    sa.Column("channel_id", sa.String(100), primary_key=True),
    sa.Column("message_id", sa.String(100), primary_key=True),
    sa.Column("answer_id", sa.String(64), nullable=False),
    sa.Column("thread_id", sa.String(100), nullable=True),
    sa.Column("posted_at", sa.DateTime(timezone=True), nullable=False),
)

# Trained adapters' files by sha256, in chunks: every replica reads them (migration 0008).
adapter_blobs = sa.Table(
    "adapter_blobs",
    metadata,
    sa.Column("sha256", sa.String(64), primary_key=True),
    sa.Column("chunk", sa.Integer, primary_key=True),
    sa.Column("chunks", sa.Integer, nullable=False),  # how many rows the whole file has
    sa.Column("size", sa.BigInteger, nullable=False),  # the whole file's bytes
    sa.Column("data", sa.LargeBinary, nullable=False),
    sa.Column("stored_at", sa.DateTime(timezone=True), nullable=False),
)
