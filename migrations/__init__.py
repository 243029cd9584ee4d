"""Alembic migrations: the only owner of Buddy's schema, on SQLite and PostgreSQL alike."""
