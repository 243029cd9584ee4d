"""Adapters: one sub-package per technology, translating between it and the domain's ports."""
