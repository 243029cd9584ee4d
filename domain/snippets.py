"""Running a snippet someone posted: one job per user at a time, a bounded queue, the output
scrubbed and made inert before anyone sees it, and `SnippetRun` stored without the raw output."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from dataclasses import dataclass

from domain.event_types import SandboxEvents
from domain.events import NewEvent
from domain.ingestion import digest
from domain.ports import EventStore
from domain.privacy_service import MAX_TEXT, Person, PrivacyService
from domain.sandbox import CodeBlock, RunRequest, RunResult, Sandbox, code_blocks

RUN_THIS = re.compile(r"\brun\s+(this|it)\b", re.IGNORECASE)
RUN_REACTIONS = frozenset({"▶️", "▶", "arrow_forward", ":arrow_forward:"})
# Slack (<!channel>, <@U123>, <#C1>) and Discord (<@123>, <@&role>) mentions, and bare @here.
_MENTION = re.compile(r"<(?=[!@#])|(?<![\w.+-])@(?=(?:everyone|here|channel)\b)", re.IGNORECASE)
_ZERO_WIDTH_SPACE = "\u200b"


def wants_run(message: str) -> CodeBlock | None:
    """The block a chat message asks to run: it says "run this" and has a fenced block."""
    blocks = code_blocks(message)
    return blocks[0] if blocks and RUN_THIS.search(message) else None


def neutralise_mentions(text: str) -> str:
    """Mentions in code output must not ping anyone: a zero-width space breaks each one."""
    return _MENTION.sub(lambda m: m.group(0) + _ZERO_WIDTH_SPACE, text)


@dataclass(frozen=True)
class Snippet:
    person: Person
    channel_id: str
    language: str
    code: str
    stdin: str = ""


@dataclass(frozen=True)
class SnippetReply:
    """What the platform posts: the result, scrubbed and inert, or why nothing ran."""

    text: str
    result: RunResult | None = None  # scrubbed copy; None when nothing ran
    busy: bool = False
    attachment: str | None = None  # the whole output, when it is too long to show inline


class RunSnippet:
    def __init__(
        self, sandbox: Sandbox, store: EventStore, privacy: PrivacyService, *,
        concurrency: int = 2, queue: int = 8, inline_chars: int = 1500,
    ) -> None:  # fmt: skip
        self._sandbox = sandbox
        self._store = store
        self._privacy = privacy
        self._slots = asyncio.Semaphore(concurrency)
        self._capacity = concurrency + queue
        self._inline_chars = inline_chars
        self._users: set[str] = set()

    async def __call__(self, snippet: Snippet) -> SnippetReply:
        if len(snippet.code) > MAX_TEXT:  # it could not be stored: refuse before running it
            return SnippetReply(f"The snippet is over {MAX_TEXT:,} characters: too long to run.")
        user = self._privacy.pseudonym(snippet.person)
        if user in self._users:
            return SnippetReply("You already have a snippet running; try again when it is done.",
                                busy=True)  # fmt: skip
        if len(self._users) >= self._capacity:
            return SnippetReply("The sandbox is busy; try again in a moment.", busy=True)
        self._users.add(user)
        try:
            async with self._slots:
                raw = await self._sandbox.run(
                    RunRequest(snippet.language, snippet.code, snippet.stdin)
                )
        finally:
            self._users.discard(user)
        result = self._clean(raw)
        await self._record(snippet, user, result)
        return self._reply(snippet.language, result)

    def _clean(self, raw: RunResult) -> RunResult:
        def clean(text: str) -> str:
            return neutralise_mentions(self._privacy.scrub(text))

        return dataclasses.replace(raw, stdout=clean(raw.stdout), stderr=clean(raw.stderr))

    async def _record(self, snippet: Snippet, user: str, result: RunResult) -> None:
        person = snippet.person
        code = await self._privacy.protect(user, snippet.code)
        payload = {
            "user": user,
            "channel": self._privacy.channel(person.platform, person.workspace, snippet.channel_id),
            "language": snippet.language,
            "code": code.sealed,
            "limits": dataclasses.asdict(result.limits),
            "exit_code": result.exit_code,
            "signal": result.signal,
            "timed_out": result.timed_out,
            "truncated": result.truncated,
            "oom_killed": result.oom_killed,
            "duration_ms": result.duration_ms,
            "output_chars": len(result.stdout) + len(result.stderr),
        }
        stream = f"snippet-{digest('snippet', user, code.sealed)}"
        await self._store.append(stream, None, [NewEvent(SandboxEvents.SNIPPET_RUN, payload)])

    def _reply(self, language: str, result: RunResult) -> SnippetReply:
        output = result.stdout + (f"\n[stderr]\n{result.stderr}" if result.stderr else "")
        shown, attachment = output, None
        if len(output) > self._inline_chars:
            shown = output[: self._inline_chars] + "\n… (the whole output is attached)"
            attachment = output
        fence = "~~~" if "```" in shown else "```"
        body = f"{fence}\n{shown.rstrip()}\n{fence}\n" if shown.strip() else "(no output)\n"
        return SnippetReply(body + status_line(language, result), result, attachment=attachment)


def status_line(language: str, result: RunResult) -> str:
    limits = result.limits
    if result.timed_out:
        outcome = f"stopped at the {limits.wall_s:g} s time limit"
    elif result.oom_killed:
        outcome = f"killed: over the {limits.memory_mib} MiB memory limit"
    elif result.signal is not None:
        outcome = f"killed by signal {result.signal}"
    else:
        outcome = f"exit {result.exit_code}"
    cut = f", output cut at {limits.output_bytes:,} bytes" if result.truncated else ""
    return f"{language}: {outcome} in {result.duration_ms} ms{cut}"
