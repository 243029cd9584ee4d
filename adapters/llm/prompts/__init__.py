"""Versioned prompt templates, one file per version."""
