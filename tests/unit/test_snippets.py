"""Running snippets: one job per user, a bounded queue, output scrubbed and inert, SnippetRun
stored without the raw output."""

from __future__ import annotations

import asyncio
import json

import pytest

from adapters.privacy.pseudonyms import HmacPseudonymizer
from adapters.privacy.scrubber import PatternScrubber
from adapters.privacy.sealer import AesGcmSealer
from domain.privacy_service import Person, PrivacyService
from domain.sandbox import RunRequest, RunResult, SandboxLimits
from domain.snippets import RunSnippet, Snippet, neutralise_mentions, status_line, wants_run
from tests.fakes import FixedClock, InMemoryEventStore, InMemoryKeyVault

ALICE = Person("slack", "T1", "U-alice")
BOB = Person("slack", "T1", "U-bob")


class FakeSandbox:
    """Echoes a scripted result after an optional wait (released by the test)."""

    def __init__(self, stdout: str = "ok\n", **result: object) -> None:
        self.stdout, self.result = stdout, {"exit_code": 0, **result}
        self.gate: asyncio.Event | None = None
        self.requests: list[RunRequest] = []

    async def run(self, request: RunRequest) -> RunResult:
        self.requests.append(request)
        if self.gate is not None:
            await self.gate.wait()
        return RunResult(self.stdout, "", **self.result)  # type: ignore[arg-type]

    def languages(self) -> dict[str, bool]:
        return {"python": True}


def runner(sandbox: FakeSandbox, **options: int) -> tuple[RunSnippet, InMemoryEventStore]:
    store, keys = InMemoryEventStore(), InMemoryKeyVault()
    privacy = PrivacyService(
        store, PatternScrubber(), HmacPseudonymizer(b"p" * 32), AesGcmSealer(keys), keys,
        FixedClock(),
    )  # fmt: skip
    return RunSnippet(sandbox, store, privacy, **options), store


async def test_output_is_scrubbed_and_inert_and_the_event_keeps_no_raw_output() -> None:
    leaky = "mail alice@example.com, key AKIAIOSFODNN7EXAMPLE <!channel> @everyone <@U123>\n"
    run, store = runner(FakeSandbox(leaky, exit_code=0, duration_ms=12))
    reply = await run(Snippet(ALICE, "C1", "python", "print(secrets)  # alice@example.com"))
    assert reply.result is not None
    shown = reply.result.stdout
    assert "alice@example.com" not in shown
    assert "AKIAIOSFODNN7EXAMPLE" not in shown
    assert "<!channel>" not in shown
    assert "@everyone" not in shown
    assert "<@U123>" not in shown
    assert reply.text.endswith("python: exit 0 in 12 ms")
    [event] = store.events
    assert event.type == "sandbox.SnippetRun"
    stored = json.dumps(event.payload)
    assert "example.com" not in stored
    assert "mail" not in stored  # no output at all, scrubbed or not
    assert "print(secrets)" not in stored  # the code is sealed
    assert event.payload["limits"]["memory_mib"] == 70
    assert event.payload["exit_code"] == 0


async def test_one_job_per_user_and_a_bounded_queue_answer_busy() -> None:
    sandbox = FakeSandbox()
    sandbox.gate = asyncio.Event()
    run, _ = runner(sandbox, concurrency=1, queue=1)
    first = asyncio.create_task(run(Snippet(ALICE, "C1", "python", "1")))
    await asyncio.sleep(0)
    again = await run(Snippet(ALICE, "C1", "python", "2"))
    assert again.busy
    assert "already have a snippet running" in again.text
    queued = asyncio.create_task(run(Snippet(BOB, "C1", "python", "3")))
    await asyncio.sleep(0)
    full = await run(Snippet(Person("slack", "T1", "U-carol"), "C1", "python", "4"))
    assert full.busy
    assert "busy" in full.text
    sandbox.gate.set()
    assert not (await first).busy
    assert not (await queued).busy
    assert not (await run(Snippet(ALICE, "C1", "python", "5"))).busy  # free again


async def test_long_output_is_cut_inline_and_attached_whole() -> None:
    run, _ = runner(FakeSandbox("line\n" * 1000, exit_code=0), inline_chars=100)
    reply = await run(Snippet(ALICE, "C1", "python", "..."))
    assert reply.attachment == "line\n" * 1000
    assert len(reply.text) < 300
    assert "attached" in reply.text


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        (RunResult("", "", 137, timed_out=True, duration_ms=6001, signal=9),
         "stopped at the 6 s time limit in 6001 ms"),
        (RunResult("", "", 137, signal=9, oom_killed=True), "over the 70 MiB memory limit"),
        (RunResult("", "", 139, signal=11), "killed by signal 11"),
        (RunResult("x", "", 0, truncated=True, limits=SandboxLimits(output_bytes=1000)),
         "exit 0 in 0 ms, output cut at 1,000 bytes"),
    ],
)  # fmt: skip
def test_status_lines_say_what_happened(result: RunResult, expected: str) -> None:
    assert expected in status_line("python", result)


def test_run_this_needs_the_words_and_a_fenced_block() -> None:
    assert wants_run("run this please\n```py\nprint(1)\n```") == ("python", "print(1)")
    assert wants_run("does this work?\n```py\nprint(1)\n```") is None
    assert wants_run("run this") is None


def test_mentions_are_broken_with_a_zero_width_space() -> None:
    text = neutralise_mentions("<!here> <@U1> <#C1|general> @channel email@here.com")
    assert text == ("<\u200b!here> <\u200b@U1> <\u200b#C1|general> @\u200bchannel email@here.com")


async def test_a_snippet_too_long_to_store_is_refused_before_it_runs() -> None:
    sandbox = FakeSandbox()
    run, store = runner(sandbox)
    reply = await run(Snippet(ALICE, "C1", "python", "x" * 40_001))
    assert reply.result is None
    assert "too long" in reply.text
    assert sandbox.requests == []
    assert store.events == []
