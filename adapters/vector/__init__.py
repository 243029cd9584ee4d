"""The knowledge index: pgvector + PostgreSQL full text, or SQLite FTS5 + an exact numpy scan."""
