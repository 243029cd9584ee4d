"""Each Slack test gets its own fake Slack on a loopback ephemeral port, and a fresh world."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.adapter.fake_slack import FakeSlack
from tests.adapter.slack.harness import World


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    fake = await FakeSlack().start()
    yield fake
    await fake.stop()


@pytest.fixture
def world() -> World:
    return World()
