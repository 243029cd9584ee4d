"""The SQL event store (SQLite and PostgreSQL), its inbox/outbox, and the projection runner."""
