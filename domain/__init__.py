"""Buddy's pure core: events, commands, decisions, ports and errors. No I/O here."""
