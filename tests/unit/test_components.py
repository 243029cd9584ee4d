"""A test missing a machine component skips on a developer's machine and fails under CI=true."""

from __future__ import annotations

import pytest

from tests.components import require


def test_a_missing_component_skips_locally_and_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    require(True, "bubblewrap not installed")  # present: nothing happens
    with pytest.raises(pytest.skip.Exception, match="bubblewrap not installed"):
        require(False, "bubblewrap not installed")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="bubblewrap not installed: CI=true"):
        require(False, "bubblewrap not installed")
