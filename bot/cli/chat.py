"""`buddy chat`: the local channel as an interactive session. Questions stream as they are
written; every question after the first follows up in the same thread until `/new`."""

from __future__ import annotations

import asyncio
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapters.platforms.local.channel import LocalChannel, source_lines
from bot.bootstrap import Services, bootstrap
from bot.operations.stats import stats_lines
from bot.settings import Settings
from domain.admin import AdminFile
from domain.conversation import Answer, Question
from domain.errors import BuddyError
from domain.feedback import Reaction
from domain.privacy_service import Person
from domain.sandbox import CodeBlock, code_blocks
from domain.snippets import RUN_REACTIONS, RUN_THIS, Snippet, wants_run

_FENCE_LINE = re.compile(r"^[ \t]{0,3}(```|~~~)")
_FENCED = re.compile(r"(```|~~~).*?(\1|$)", re.DOTALL)


def _only_run_this(message: str) -> bool:
    """A short message that just asks to run something ("run this", "please run it")."""
    return len(message) <= 30 and RUN_THIS.search(message) is not None


HELP = """Ask anything; later questions follow up in the same thread.
A message with a ```fenced``` code block and the words "run this" runs the block in the sandbox.
  /react ▶️                    run the last code block you posted
  /react EMOJI [ANSWER_ID]    rate an answer (👍 +1 ✅ up, 👎 -1 ❌ down); default: the last one
  /unreact EMOJI [ANSWER_ID]  take a reaction back
  /sources                    the sources of the last answer
  /stats                      questions, answers, ratings
  /admin COMMAND [ARGS]       an admin command (BUDDY_ADMINS); /admin help lists them
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
    attachments: Path | None = None
    _pending: list[str] = field(default_factory=list)
    _last_code: CodeBlock | None = None
    _armed: bool = False

    async def handle(self, line: str) -> bool:
        """Handle one line; False when the session should end. Lines of an open code fence
        gather until it closes: the message is then handled whole."""
        self._pending.append(line)
        message = "\n".join(self._pending)
        if sum(1 for text in self._pending if _FENCE_LINE.match(text)) % 2:
            return True
        self._pending.clear()
        message = message.strip()
        if not message:
            return True
        if not message.startswith("/"):
            await self._message(message)
            return True
        line = message
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
            "/admin": self._admin,
            "/new": self._new,
        }

    async def _message(self, message: str) -> None:
        blocks = code_blocks(message)
        if blocks:
            self._last_code = blocks[0]
        block = wants_run(message) or (blocks[0] if blocks and self._armed else None)
        self._armed = False
        if block is None and not blocks and _only_run_this(message):
            block = self._last_code  # "run this" right after posting a block
            if block is None:
                self._armed = True  # "run this" first, then the block
                self.write("paste the code block to run (in ``` fences)\n")
                return
        if block is not None:
            await self._run(block)
        elif blocks and not _FENCED.sub("", message).strip():
            self.write('got the code; say "run this" or /react ▶️ to run it\n')
        else:
            await self._ask(message)

    async def _run(self, block: CodeBlock) -> None:
        runner = await self.services.snippets()
        language = block.language or "python"
        reply = await runner(Snippet(self.person, self.channel, language, block.code))
        self.write(reply.text + "\n")
        if reply.attachment is not None and self.attachments is not None:
            self.attachments.mkdir(parents=True, exist_ok=True)
            path = self.attachments / f"output-{int(time.time() * 1000)}.txt"
            path.write_text(reply.attachment, encoding="utf-8")
            self.write(f"(the whole output: {path})\n")

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
        if args[0] in RUN_REACTIONS and not removed:
            if self._last_code is None:
                self.write("no code block to run yet: post one in ``` fences\n")
            else:
                await self._run(self._last_code)
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

    async def _admin(self, args: list[str]) -> None:
        from bot.operations.admin import admin_console
        from domain.admin import AdminConsole, AdminRequest, admin_help

        request = AdminRequest.parse(self.person, self.channel, " ".join(args))
        if not AdminConsole.handles(request.command):
            self.write(admin_help("/admin").replace("`", "") + "\n")
            return
        console = await admin_console(self.services)
        await console(request, LocalAdminReplies(self.write, self.attachments))

    async def _new(self, _args: list[str]) -> None:
        self.thread = None
        self.write("new thread\n")


class LocalAdminReplies:
    """An admin command's replies on the terminal; files land in the attachments folder."""

    def __init__(self, write: Callable[[str], None], attachments: Path | None) -> None:
        self._write = write
        self._attachments = attachments

    async def say(self, text: str) -> None:
        self._write(text.replace("```\n", "").replace("\n```", "") + "\n")

    async def progress(self, text: str) -> None:
        self._write(f"  … {text}\n")

    async def upload(self, file: AdminFile) -> None:
        self._write(file.comment + "\n")
        if self._attachments is None:
            return
        path = self._attachments / file.name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(file.content)
        path.chmod(0o600 if file.private else 0o644)
        self._write(f"(saved to {path})\n")


def _write(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


async def _read_line(prompt: str) -> str | None:
    try:
        return await asyncio.to_thread(input, prompt)
    except EOFError:
        return None


async def chat(settings: Settings, user: str, channel: str) -> None:
    from bot.operations.index import refresh_index

    if sys.stdin.isatty():
        import readline  # noqa: F401  (line editing and in-memory history for input())
    local = LocalChannel(_write)
    async with bootstrap(settings) as services:
        await refresh_index(services)
        answerer = await services.answerer(local)
        person = Person(local.platform, local.workspace, user)
        session = ChatSession(services, answerer, person, channel, _write)
        session.attachments = settings.data_dir / "attachments"
        _write(f"Buddy on {answerer.model_version}. /help for commands.\n")
        prompt = "you> " if sys.stdin.isatty() else ""
        while (line := await _read_line(prompt)) is not None:
            try:
                if not await session.handle(line):
                    break
            except BuddyError as error:  # one bad command does not end the session
                _write(f"error: {error}\n")
