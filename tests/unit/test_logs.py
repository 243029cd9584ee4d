"""bot.logs' nets under the call sites: libraries say at most INFO, and what looks like a platform
id is masked in messages and tracebacks alike, in text and JSON."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from adapters.privacy.scrubber import PatternScrubber
from bot.logs import configure_logging, correlation_id, mask_platform_ids


@pytest.fixture
def captured(request: pytest.FixtureRequest) -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    configure_logging("DEBUG", request.param, PatternScrubber())
    stream = io.StringIO()
    root.handlers[0].setStream(stream)  # type: ignore[attr-defined]
    try:
        yield stream
    finally:
        root.handlers[:], root.level = saved


@pytest.mark.parametrize(
    "planted",
    ["U024BE7LH", "C0CANARYCHAN", "T0123ABCDEF", "Ev08MFMKH6", "1711111111.123456",
     "13345224609.738474920.8088930838d88f008e0", "1442545297027760129"],
)  # fmt: skip
def test_platform_ids_are_masked(planted: str) -> None:
    masked = mask_platform_ids(f"posting in {planted}: failed")
    assert planted not in masked
    assert masked.startswith("posting in <id:")
    assert mask_platform_ids(planted) == mask_platform_ids(planted)  # the same id, the same mask


@pytest.mark.parametrize(
    "ordinary",
    ["answer 907c0863cd739e73c541228809fdc44f", "model v12 (gemma-3-270m-q4_k_m)", "HTTP 404",
     "shredded 3 day keys older than 30 days", "UNAVAILABLE", "took 1234567 ms"],
)  # fmt: skip
def test_ordinary_log_text_is_left_alone(ordinary: str) -> None:
    assert mask_platform_ids(ordinary) == ordinary


@pytest.mark.parametrize("captured", ["text", "json"], indirect=True)
def test_libraries_say_at_most_info_and_buddy_says_debug(captured: io.StringIO) -> None:
    logging.getLogger("discord.gateway").debug("WebSocket Event: quokka")
    logging.getLogger("discord.gateway").info("connected")
    logging.getLogger("adapters.platforms.slack.inbound").debug("reaction on abc: positive")
    out = captured.getvalue()
    assert "quokka" not in out
    assert "connected" in out
    assert "reaction on abc: positive" in out


@pytest.mark.parametrize("captured", ["text", "json"], indirect=True)
def test_ids_in_a_traceback_are_masked(captured: io.StringIO) -> None:
    try:
        raise RuntimeError("posting in channel 1442545297027760129 for U0CANARYUSER failed")
    except RuntimeError:
        logging.getLogger("bot.serve.worker").exception("answer job 7 for discord failed")
    out = captured.getvalue()
    assert "1442545297027760129" not in out
    assert "U0CANARYUSER" not in out
    assert "RuntimeError: posting in channel <id:" in out.replace("\\n", "\n")
    if out.startswith("{"):
        assert "exc" in json.loads(out.splitlines()[0])


@pytest.mark.parametrize("captured", ["text", "json"], indirect=True)
def test_lines_carry_the_correlation_id_of_the_answer_being_worked_on(
    captured: io.StringIO,
) -> None:
    log = logging.getLogger("bot.serve.worker")
    log.info("before")
    token = correlation_id.set("a1b2c3d4")
    try:
        log.info("answering")
    finally:
        correlation_id.reset(token)
    before, during = captured.getvalue().splitlines()
    if before.startswith("{"):
        assert json.loads(before)["correlation_id"] is None
        assert json.loads(during)["correlation_id"] == "a1b2c3d4"
        assert "correlation" not in json.loads(during)
    else:
        assert "[" not in before
        assert "bot.serve.worker [a1b2c3d4]: answering" in during
