"""What a conversation is made of: questions, answers with their sources, threads, and the ports
the answer path talks through (the chat platform, the log of earlier exchanges)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Protocol

from domain.ingestion import digest
from domain.privacy_service import Person


@dataclass(frozen=True)
class Question:
    person: Person
    channel_id: str
    text: str
    thread_id: str | None = None  # the platform's thread; None starts a thread of its own
    platform_event_id: str | None = None


@dataclass(frozen=True)
class Source:
    reference: int
    path: str
    license: str
    lines: tuple[int, int]


@dataclass(frozen=True)
class Answer:
    answer_id: str
    text: str
    sources: tuple[Source, ...]
    model_version: str
    latency_ms: int
    failed: bool = False
    timings_ms: dict[str, int] = field(default_factory=dict, compare=False)
    mode: str = "generated"  # or "extractive" (quoted from the passages) or "declined"


class ChatPlatform(Protocol):
    async def draft(
        self, answer_id: str, channel_id: str, thread_id: str | None, text_so_far: str
    ) -> None:
        """The answer so far, while it streams. Platforms pace their own edits."""
        ...

    async def send(self, channel_id: str, thread_id: str | None, answer: Answer) -> None: ...


@dataclass(frozen=True)
class Exchange:
    """One earlier question and its answer in a thread, both sealed under the asker's key."""

    answer_id: str
    user: str
    question: str
    answer: str | None  # None when answering failed


class ConversationLog(Protocol):
    async def thread(self, thread: str, limit: int) -> list[Exchange]:
        """The last `limit` exchanges of a thread, oldest first."""
        ...


def answer_id_for(user: str, platform_message: str | None) -> str:
    """A conversation's id. From the platform's id of the question message when there is one
    ("slack:C1:1700.1", "discord:123"), so a redelivery, an edit or a deletion of that message
    finds the same conversation (a deletion event may not say who wrote it); else a fresh one
    (the local channel)."""
    if platform_message:
        return digest("answer", platform_message)
    return digest("answer", user, uuid.uuid4().hex)


def thread_key(channel: str, thread_root: str) -> str:
    """A thread's stored name: a digest of the channel's pseudonym and the platform's thread id,
    so platform ids (Slack timestamps, Discord snowflakes) are never stored."""
    return digest("thread", channel, thread_root)


@dataclass(frozen=True)
class PostedMessage:
    """A message the bot posted on a platform, and the answer it carries."""

    platform: str
    channel_id: str
    message_id: str
    answer_id: str
    thread_id: str | None = None


class MessageRefs(Protocol):
    """Which platform message carries which answer: reactions name messages, not answers, and a
    resumed reply edits the message already posted instead of posting twice."""

    async def remember(self, posted: PostedMessage) -> None: ...

    async def answer_for(self, platform: str, channel_id: str, message_id: str) -> str | None: ...

    async def posted(self, platform: str, answer_id: str) -> PostedMessage | None: ...

    async def bot_thread(self, platform: str, channel_id: str, thread_id: str) -> bool:
        """Whether the bot answers in this thread (its replies there are follow-ups)."""
        ...
