"""Automatic rollback: when the served version's live ratings are clearly worse than those of the
version served before it, serve that one again."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from domain.errors import ConcurrencyError
from domain.model_registry import ModelRegistry, RatingCounts, RegistryRefused, should_roll_back

log = logging.getLogger(__name__)

# The live ratings of a registry version's answers ("base", "v1", ...).
RatingSource = Callable[[str], Awaitable[RatingCounts]]


class AutoRollback:
    def __init__(
        self, registry: ModelRegistry, ratings: RatingSource, *, margin: float = 0.15,
        min_ratings: int = 20,
    ) -> None:  # fmt: skip
        self._registry = registry
        self._ratings = ratings
        self.margin = margin
        self.min_ratings = min_ratings

    async def __call__(self) -> dict[str, Any] | None:
        """Roll back when the figures say so; the `ModelRolledBack` payload, or None."""
        state = await self._registry.state()
        previous = state.previous
        if previous is None:
            return None
        served = state.served
        current = await self._ratings(served)
        before = await self._ratings(previous.version)
        if not should_roll_back(current, before, self.margin, self.min_ratings):
            return None
        details = {
            "current": {"version": served, **current.as_json()},
            "previous": {"version": previous.version, **before.as_json()},
            "margin": self.margin, "min_ratings": self.min_ratings,
        }  # fmt: skip
        try:
            rolled = await self._registry.rollback("live_ratings", details, from_version=served)
        except (ConcurrencyError, RegistryRefused):  # the served version moved meanwhile
            log.info("auto-rollback skipped: the registry changed while deciding")
            return None
        log.warning(
            "rolled back %s -> %s: negative rate %.0f%% vs %.0f%% over %d ratings",
            served, previous.version, current.negative_rate * 100, before.negative_rate * 100,
            current.total,
        )  # fmt: skip
        return rolled
