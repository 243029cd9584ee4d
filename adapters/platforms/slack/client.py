"""The Slack Web API calls Buddy makes, paced and retried, with Slack's and aiohttp's errors
translated into `SlackUnavailable` (errors.py) here, at the edge."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient

from adapters.platforms.slack.errors import SlackUnavailable, error_code, translated
from adapters.platforms.slack.translate import SlackMessage

log = logging.getLogger(__name__)
SLACK_API_URL = "https://slack.com/api/"
_HARMLESS = frozenset({"already_reacted", "no_reaction", "message_not_found"})
ANSWER_METADATA = "buddy_answer"  # the message metadata event type marking Buddy's answers


class RetryAfter(AsyncRateLimitErrorRetryHandler):
    """On HTTP 429, wait what `Retry-After` says and try again. The stock handler adds up to a
    second of jitter; pacing already spreads our calls, so this waits the exact time, capped."""

    def __init__(self, max_retry_count: int = 3, max_wait_s: float = 60.0) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.max_wait_s = max_wait_s

    async def prepare_for_next_attempt_async(
        self, *, state: RetryState, request: HttpRequest, response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:  # fmt: skip
        if response is None:
            raise error or SlackUnavailable("rate limited without a response")
        header = next((v for k, v in response.headers.items() if k.lower() == "retry-after"), None)
        try:
            wait_s = float(header[0] if isinstance(header, list) else header or 1)
        except ValueError:
            wait_s = 1.0
        state.next_attempt_requested = True
        await asyncio.sleep(min(max(wait_s, 0.0), self.max_wait_s))
        state.increment_current_attempt()


def web_client(token: str, api_url: str | None, *, max_retries: int = 3) -> AsyncWebClient:
    handlers: list[AsyncRetryHandler] = [
        AsyncConnectionErrorRetryHandler(),
        RetryAfter(max_retry_count=max_retries),
    ]
    return AsyncWebClient(token=token, base_url=api_url or SLACK_API_URL, retry_handlers=handlers)


class ChannelPacer:
    """At most one post per `interval_s` in each channel (Slack's chat.postMessage limit):
    each caller reserves the channel's next free slot, then waits for it."""

    def __init__(self, interval_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._interval_s = interval_s
        self._clock = clock
        self._next: dict[str, float] = {}

    async def wait(self, channel: str) -> None:
        now = self._clock()
        slot = max(now, self._next.get(channel, 0.0))
        self._next[channel] = slot + self._interval_s
        if len(self._next) > 1_000:  # forget channels that are quiet again
            self._next = {c: t for c, t in self._next.items() if t > now}
        if slot > now:
            await asyncio.sleep(slot - now)


@dataclass(frozen=True)
class BotIdentity:
    user_id: str
    team_id: str


class SlackWeb:
    def __init__(self, client: AsyncWebClient, *, post_interval_s: float = 1.0) -> None:
        self.client = client
        self._pacer = ChannelPacer(post_interval_s)

    async def identity(self) -> BotIdentity:
        with translated("auth.test"):
            response = await self.client.auth_test()
        return BotIdentity(str(response["user_id"]), str(response.get("team_id") or ""))

    async def post(
        self, channel: str, thread_ts: str | None, message: SlackMessage,
        answer_id: str | None = None,
    ) -> str:  # fmt: skip
        """Post in the channel (in the thread when given); the new message's ts. An answer
        carries its id in the message's metadata, for `find_answer` after a crash."""
        await self._pacer.wait(channel)
        metadata = None if answer_id is None else {
            "event_type": ANSWER_METADATA, "event_payload": {"answer_id": answer_id}
        }  # fmt: skip
        with translated("chat.postMessage"):
            response = await self.client.chat_postMessage(
                channel=channel, thread_ts=thread_ts, text=message.text, blocks=message.blocks,
                unfurl_links=False, unfurl_media=False, metadata=metadata,
            )  # fmt: skip
        return str(response["ts"])

    async def find_answer(self, channel: str, thread_ts: str, answer_id: str) -> str | None:
        """The ts of the answer's message in the thread, posted by a Buddy that crashed before
        it could remember it; None when there is none."""
        try:
            with translated("conversations.replies"):
                response = await self.client.conversations_replies(
                    channel=channel, ts=thread_ts, include_all_metadata=True, limit=200
                )
        except SlackUnavailable as error:
            if error_code(error) in ("thread_not_found", "message_not_found"):
                return None
            raise
        for found in response.get("messages") or []:
            metadata = found.get("metadata") or {}
            payload = metadata.get("event_payload") or {}
            if (
                metadata.get("event_type") == ANSWER_METADATA
                and payload.get("answer_id") == answer_id
            ):
                return str(found["ts"])
        return None

    async def update(self, channel: str, ts: str, message: SlackMessage) -> None:
        with translated("chat.update"):
            await self.client.chat_update(
                channel=channel, ts=ts, text=message.text, blocks=message.blocks
            )

    async def react(self, channel: str, ts: str, name: str, *, remove: bool = False) -> None:
        method = "reactions.remove" if remove else "reactions.add"
        try:
            with translated(method):
                if remove:
                    await self.client.reactions_remove(channel=channel, timestamp=ts, name=name)
                else:
                    await self.client.reactions_add(channel=channel, timestamp=ts, name=name)
        except SlackUnavailable as error:
            if error_code(error) not in _HARMLESS:
                raise

    async def message(self, channel: str, ts: str) -> dict[str, Any] | None:
        """One message by its ts, in the channel or in a thread of it."""
        with translated("conversations.history"):
            response = await self.client.conversations_history(
                channel=channel, latest=ts, inclusive=True, limit=1
            )
        found = _with_ts(response.get("messages"), ts)
        if found is not None:
            return found
        with translated("conversations.replies"):  # not top level: a reply in a thread
            response = await self.client.conversations_replies(
                channel=channel, ts=ts, oldest=ts, latest=ts, inclusive=True, limit=2
            )  # the thread's first message comes first, whatever the window
        return _with_ts(response.get("messages"), ts)

    async def direct_channel(self, user_id: str) -> str:
        """The direct message channel between Buddy and the user (opened if need be)."""
        with translated("conversations.open"):
            response = await self.client.conversations_open(users=user_id)
        return str(response["channel"]["id"])

    async def upload_file(self, channel: str, data: bytes, name: str, comment: str) -> None:
        with translated("files.upload"):
            await self.client.files_upload_v2(
                channel=channel, file=data, filename=name, title=name, initial_comment=comment
            )

    async def upload(self, channel: str, thread_ts: str | None, content: str, name: str) -> None:
        with translated("files.upload"):
            await self.client.files_upload_v2(
                channel=channel, thread_ts=thread_ts, content=content, filename=name, title=name
            )


def _with_ts(messages: Any, ts: str) -> dict[str, Any] | None:
    for message in messages or []:
        if isinstance(message, dict) and message.get("ts") == ts:
            return message
    return None
