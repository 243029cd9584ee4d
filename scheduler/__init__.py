"""APScheduler wiring and job functions; each job builds a command for the domain (later issues)."""
