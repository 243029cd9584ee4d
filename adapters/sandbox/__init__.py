"""Sandboxes for code snippets: bubblewrap (default on Linux) and Docker (production)."""
