"""Discord <-> domain, pure: answers rendered as Discord markdown (it mostly passes through) with
their sources, mentions made inert, messages split at Discord's 2,000 characters without
breaking a code fence, and an incoming Discord message turned into a question or a snippet."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from domain.conversation import Answer, Question
from domain.privacy_service import Person
from domain.sandbox import code_blocks
from domain.snippets import Snippet, neutralise_mentions, wants_run

PLATFORM = "discord"
MESSAGE_LIMIT = 2000
MAX_PARTS = 4  # longer answers go out as one message and an attached file
ATTACHED_NOTE = "\n… (the whole answer is attached)"
_FENCE = re.compile(r"^[ \t]{0,3}(`{3,}|~{3,})(.*)$")


@dataclass(frozen=True)
class ReplyPlan:
    """The messages an answer goes out as, and the file attached when it is too long."""

    parts: list[str]
    attachment: str | None = None


@dataclass(frozen=True)
class IncomingMessage:
    """What Buddy reads of a Discord message, in plain values."""

    message_id: str
    channel_id: str
    guild_id: str | None  # None in a DM
    author_id: str
    content: str


# Discord ids are global snowflakes: one workspace for all of Discord, so a user has one
# pseudonym across servers and DMs, and `buddy forget discord USER_ID` finds every trace.
DISCORD_WORKSPACE = "default"


def person_of(guild_id: str | None, user_id: str) -> Person:
    return Person(PLATFORM, DISCORD_WORKSPACE, user_id)


def inert(text: str) -> str:
    """@everyone, @here, <@id>, <@!id>, <@&role> and <#channel> no longer mention anyone."""
    return neutralise_mentions(text)


def render_answer(answer: Answer) -> str:
    text = inert(answer.text.strip())
    if not answer.sources:
        return text
    lines = [
        f"[{s.reference}] `{s.path}:{s.lines[0]}-{s.lines[1]}` ({inert(s.license)})"
        for s in answer.sources
    ]
    return text + "\n\n**Sources**\n" + "\n".join(lines)


def render_draft(text_so_far: str) -> str:
    """The answer while it streams: one message, cut short with an ellipsis."""
    text = inert(text_so_far.strip()) or "…"
    parts = split_message(text, MESSAGE_LIMIT - 2)
    return parts[0] + (" …" if len(parts) > 1 else "")


def reply_plan(text: str) -> ReplyPlan:
    parts = split_message(text)
    if len(parts) <= MAX_PARTS:
        return ReplyPlan(parts)
    head = split_message(text, MESSAGE_LIMIT - len(ATTACHED_NOTE))[0]
    return ReplyPlan([head + ATTACHED_NOTE], attachment=text)


def split_message(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Parts of at most `limit` characters, cut at line ends where possible; a code fence open at
    a cut is closed at the end of the part and reopened (same info string) in the next."""
    parts: list[str] = []
    current = ""
    fence: tuple[str, str] | None = None  # (marker, opening line) of the open fence
    for line in _pieces(text, limit):
        after = _fence_after(line, fence)
        closing = "\n" + after[0] if after else ""  # what the part would need to end with
        if current and len(current) + len(line) + len(closing) > limit:
            parts.append(current.rstrip("\n") + ("\n" + fence[0] if fence else ""))
            current = fence[1] + "\n" if fence else ""
        current += line
        fence = after
    if current.strip():
        parts.append(current.rstrip("\n") + ("\n" + fence[0] if fence else ""))
    return parts or [""]


def _pieces(text: str, limit: int) -> list[str]:
    """The lines of `text`, with any line too long to fit cut into pieces."""
    size = limit - 200 if limit > 400 else max(1, limit // 2)  # room to close and reopen a fence
    pieces: list[str] = []
    for line in text.splitlines(keepends=True):
        pieces.extend(line[i : i + size] for i in range(0, len(line), size))
    return pieces


def _fence_after(line: str, fence: tuple[str, str] | None) -> tuple[str, str] | None:
    match = _FENCE.match(line.rstrip("\n"))
    if match is None:
        return fence
    marker, rest = match.group(1), match.group(2)
    if fence is None:
        return (marker, line.rstrip("\n").strip()[:80])  # reopened in every later part
    closes = marker[0] == fence[0][0] and len(marker) >= len(fence[0]) and not rest.strip()
    return None if closes else fence


def nonce_for(key: str, part: int) -> str:
    """A stable nonce (Discord allows 25 characters) for one part of one reply: a retried send
    with `enforce_nonce` returns the message already posted instead of posting it again."""
    return hashlib.sha256(f"{key}:{part}".encode()).hexdigest()[:25]


def mentions(content: str, user_id: str) -> bool:
    return f"<@{user_id}>" in content or f"<@!{user_id}>" in content


def without_mention(content: str, user_id: str) -> str:
    return re.sub(rf"<@!?{re.escape(user_id)}>", " ", content).strip()


def question_from(message: IncomingMessage, bot_id: str, thread_id: str) -> Question | None:
    """The question a message addressed to the bot asks; None when it says nothing."""
    text = without_mention(message.content, bot_id)
    if not text:
        return None
    return Question(
        person_of(message.guild_id, message.author_id), message.channel_id, text, thread_id,
        f"{PLATFORM}:{message.message_id}",
    )  # fmt: skip


def snippet_from(message: IncomingMessage, *, asked: bool) -> Snippet | None:
    """The snippet a message asks to run: "run this" with a fenced block (`asked`: or any
    block, when a ▶️ reaction asked)."""
    if asked:
        blocks = code_blocks(message.content)
        block = blocks[0] if blocks else None
    else:
        block = wants_run(message.content)
    if block is None:
        return None
    language = block.language or "python"
    return Snippet(
        person_of(message.guild_id, message.author_id), message.channel_id, language, block.code
    )
