"""Sentence embeddings from models installed as Python packages (never fetched from a hub)."""
