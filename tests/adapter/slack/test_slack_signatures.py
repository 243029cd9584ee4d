"""Requests to /slack/events that Slack did not sign, or signed too long ago (or in the
future), are refused with 401 before anything is parsed or stored."""

from __future__ import annotations

import time

from tests.adapter.fake_slack import FakeSlack
from tests.adapter.slack.harness import SECRET, BuddyProcess, World, event_body, mention, signed
from tests.fakes import ScriptedModel

JSON = {"Content-Type": "application/json"}


def flipped(data: bytes, bit: int) -> bytes:
    changed = bytearray(data)
    changed[bit // 8] ^= 1 << (bit % 8)
    return bytes(changed)


def sendable(value: str) -> bool:
    """HTTP headers cannot carry control characters: such a flip never reaches the server."""
    return value.isascii() and value.isprintable()


def forgeries(body: bytes) -> list[tuple[str, bytes, dict[str, str]]]:
    now = int(time.time())
    good = signed(body, timestamp=now)
    stamp, signature = good["X-Slack-Request-Timestamp"], good["X-Slack-Signature"]
    cases: list[tuple[str, bytes, dict[str, str]]] = []
    for bit in range(0, len(body) * 8, 37):  # bits all over the body
        cases.append((f"body bit {bit}", flipped(body, bit), good))
    for bit in range(0, len(signature) * 8, 11):  # the signature, its v0= prefix included
        forged = flipped(signature.encode(), bit).decode("latin-1")
        if sendable(forged):
            cases.append((f"signature bit {bit}", body, {**good, "X-Slack-Signature": forged}))
    for bit in range(len(stamp) * 8):  # a changed timestamp no longer matches the signature
        forged = flipped(stamp.encode(), bit).decode("latin-1")
        if sendable(forged):
            cases.append(
                (f"timestamp bit {bit}", body, {**good, "X-Slack-Request-Timestamp": forged})
            )
    cases += [
        ("stale", body, signed(body, timestamp=now - 301)),
        ("an hour old", body, signed(body, timestamp=now - 3600)),
        ("future", body, signed(body, timestamp=now + 330)),  # margin: a slow run moves now
        ("wrong secret", body, signed(body, secret=SECRET + "x", timestamp=now)),
        ("no timestamp", body, {"X-Slack-Signature": signature}),
        ("no signature", body, {"X-Slack-Request-Timestamp": stamp}),
        ("no headers", body, {}),
        ("empty signature", body, {**good, "X-Slack-Signature": ""}),
        ("v1 scheme", body, {**good, "X-Slack-Signature": "v1=" + signature[3:]}),
        ("negative timestamp", body, {**good, "X-Slack-Request-Timestamp": "-" + stamp}),
        ("signed, then extended", body + b" ", good),
    ]
    return cases


async def test_every_forged_request_is_refused_and_nothing_is_stored(
    slack: FakeSlack, world: World
) -> None:
    buddy = await BuddyProcess(world, slack, ScriptedModel(["ok"])).start()
    body = event_body(mention("how do I roll back?", "1690000000.000100"), "Ev1")
    cases = forgeries(body)
    try:
        for name, sent, headers in cases:
            status, _ = await buddy.deliver(sent, {**JSON, **headers})
            assert status == 401, name
        assert world.store.events == []
        assert world.store.outbox == []
        assert slack.calls == []  # not even auth.test: nothing got past the signature check

        status, _ = await buddy.deliver(body)  # the genuine request still goes through
    finally:
        await buddy.stop()
    assert status == 200
    assert world.types() == ["conversation.QuestionAsked"]
    assert len(cases) > 100
