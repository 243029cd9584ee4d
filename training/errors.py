"""Errors the trainer reports, as domain errors so the CLI and the jobs can show them."""

from __future__ import annotations

from domain.errors import AdapterRejected, BuddyError

__all__ = ["AdapterRejected", "TrainingFailed", "TrainingInterrupted"]


class TrainingFailed(BuddyError):
    """A training run, a conversion or a de-quantisation could not complete; says why."""


class TrainingInterrupted(BuddyError):
    """A run stopped on request (shutdown) after saving a checkpoint; the next run resumes it."""
