"""Tests that need a component of the machine (bubblewrap, a writable cgroup, root, a Python that
loads SQLite extensions): skipped where it is missing on a developer's machine, failed where it is
missing under CI=true, since CI must provide everything and a skip there would hide a gap."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


def missing(reason: str) -> NoReturn:
    if in_ci():
        pytest.fail(f"{reason}: CI=true, where this component must be present", pytrace=False)
    pytest.skip(reason)


def require(present: bool, reason: str) -> None:
    """Skip (locally) or fail (in CI) with `reason` unless `present`."""
    if not present:
        missing(reason)
