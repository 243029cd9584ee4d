"""`buddy chat`: the local channel as an interactive session. Questions stream as they are
written; every question after the first follows up in the same thread until `/new`."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from adapters.platforms.local.channel import LocalChannel, source_lines
from bot.bootstrap import Services, bootstrap
from bot.conversation_commands import stats_lines
from bot.settings import Settings
from domain.conversation import Answer, Question
from domain.errors import BuddyError
from domain.feedback import Reaction
from domain.privacy_service import Person

HELP = """Ask anything; later questions follow up in the same thread.
  /react EMOJI [ANSWER_ID]    rate an answer (👍 +1 ✅ up, 👎 -1 ❌ down); default: the last one
  /unreact EMOJI [ANSWER_ID]  take a reaction back
  /sources                    the sources of the last answer
  /stats                      questions, answers, ratings
  /new                        start a new thread
  /help                       this text
  /quit                       leave (Ctrl-D works too)"""


@dataclass
class ChatSession:
    services: Services
    answerer: Any
    person: Person
    channel: str
    write: Callable[[str], None]
    thread: str | None = None
    answers: list[Answer] = field(default_factory=list)

    async def handle(self, line: str) -> bool:
        """Handle one line; False when the session should end."""
        line = line.strip()
        if not line:
            return True
        if not line.startswith("/"):
            await self._ask(line)
            return True
        command, *args = line.split()
        if command in ("/quit", "/exit"):
            return False
        handler = self._commands().get(command)
        if handler is None:
            self.write(f"unknown command {command}; /help lists them\n")
        else:
            await handler(args)
        return True

    def _commands(self) -> dict[str, Callable[[list[str]], Any]]:
        return {
            "/help": self._help,
            "/react": self._react,
            "/unreact": self._unreact,
            "/sources": self._sources,
            "/stats": self._stats,
            "/new": self._new,
        }

    async def _ask(self, text: str) -> None:
        self.write("buddy> ")
        answer: Answer = await self.answerer(Question(self.person, self.channel, text, self.thread))
        self.answers.append(answer)
        if self.thread is None and not answer.failed:
            self.thread = answer.answer_id  # the local channel's thread id is its first answer
        refs = " ".join(f"[{s.reference}] {s.path}" for s in answer.sources)
        self.write(f"  ({refs + '; ' if refs else ''}id {answer.answer_id})\n")

    async def _help(self, _args: list[str]) -> None:
        self.write(HELP + "\n")

    async def _react(self, args: list[str], removed: bool = False) -> None:
        if not args:
            self.write("usage: /react EMOJI [ANSWER_ID]\n")
            return
        answer_id = (
            args[1] if len(args) > 1 else (self.answers[-1].answer_id if self.answers else "")
        )
        if not answer_id:
            self.write("no answer to react to yet\n")
            return
        rate = await self.services.rater()
        outcome = await rate(Reaction(self.person, answer_id, args[0], removed=removed))
        verdict = outcome.recorded.split(".")[-1] if outcome.recorded else "ignored"
        self.write(f"{verdict}: {outcome.reason}\n")

    async def _unreact(self, args: list[str]) -> None:
        await self._react(args, removed=True)

    async def _sources(self, _args: list[str]) -> None:
        if not self.answers or not self.answers[-1].sources:
            self.write("the last answer cited no sources\n")
            return
        self.write("\n".join(source_lines(self.answers[-1])) + "\n")

    async def _stats(self, _args: list[str]) -> None:
        self.write("\n".join(stats_lines(await self.services.conversations.stats())) + "\n")

    async def _new(self, _args: list[str]) -> None:
        self.thread = None
        self.write("new thread\n")


def _write(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


async def _read_line(prompt: str) -> str | None:
    try:
        return await asyncio.to_thread(input, prompt)
    except EOFError:
        return None


async def chat(settings: Settings, user: str, channel: str) -> None:
    from bot.knowledge_commands import refresh_index

    if sys.stdin.isatty():
        import readline  # noqa: F401  (line editing and in-memory history for input())
    local = LocalChannel(_write)
    async with bootstrap(settings) as services:
        await refresh_index(services)
        answerer = await services.answerer(local)
        person = Person(local.platform, local.workspace, user)
        session = ChatSession(services, answerer, person, channel, _write)
        _write(f"Buddy on {answerer.model_version}. /help for commands.\n")
        prompt = "you> " if sys.stdin.isatty() else ""
        while (line := await _read_line(prompt)) is not None:
            try:
                if not await session.handle(line):
                    break
            except BuddyError as error:  # one bad command does not end the session
                _write(f"error: {error}\n")
