"""What a chat platform adapter hands inbound work to, and what `buddy serve` asks of one.

Adapters translate platform payloads into these calls and nothing more: the use cases behind
them (accept a question, rate an answer, run a snippet, read stats) are the domain's.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from domain.admin import AdminReplies, AdminRequest
from domain.conversation import ChatPlatform, MessageRefs, Question
from domain.feedback import RatingOutcome, Reaction
from domain.question_changes import QuestionChange
from domain.snippets import Snippet, SnippetReply


@dataclass(frozen=True)
class InboundHandlers:
    """The use cases a platform adapter calls. `accept` stores the question with a pending
    reply job and returns its answer id at once (ack after it); the answer worker replies.
    Stats and the other admin commands go through `admin`."""

    accept: Callable[[Question], Awaitable[str]]
    rate: Callable[[Reaction], Awaitable[RatingOutcome]]
    run_snippet: Callable[[Snippet], Awaitable[SnippetReply]]
    refs: MessageRefs
    # A question's message edited (new text) or deleted (None): its text is shredded.
    change_question: Callable[[QuestionChange], Awaitable[str | None]] | None = None
    # An admin command (domain.admin.AdminConsole): authorised, run, replied to and recorded.
    admin: Callable[[AdminRequest, AdminReplies], Awaitable[str]] | None = None


class PlatformService(Protocol):
    """One chat platform inside `buddy serve`."""

    name: str  # "slack" or "discord": also the outbox destination of its reply jobs

    @property
    def platform(self) -> ChatPlatform:
        """Where the answer worker sends this platform's replies."""
        ...

    def bind(self, handlers: InboundHandlers) -> None:
        """Called once, before `start`."""
        ...

    async def start(self, web_app: Any) -> None:
        """Connect (Socket Mode, the gateway) and add HTTP routes to the aiohttp app; return
        once running."""
        ...

    async def stop(self) -> None:
        """Stop taking new events; in-flight work is the worker's to finish."""
        ...
