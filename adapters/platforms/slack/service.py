"""Slack inside `buddy serve`: Socket Mode when an app token is set, else the HTTP Events API
on the server's `/slack/events` (which needs the signing secret: without it, no start)."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp

from adapters.platforms.common import BackgroundWork
from adapters.platforms.slack.client import SlackWeb, web_client
from adapters.platforms.slack.commands import SlashCommands
from adapters.platforms.slack.errors import SlackUnavailable
from adapters.platforms.slack.http_events import EVENTS_PATH, events_endpoint
from adapters.platforms.slack.inbound import SlackInbound
from adapters.platforms.slack.replies import SlackReplies
from adapters.platforms.slack.working import WorkInProgress
from domain.conversation import ChatPlatform
from domain.errors import ConfigurationError
from domain.inbound import InboundHandlers

log = logging.getLogger(__name__)
DRAIN_S = 10.0  # snippet runs and slash command results in flight get this long on stop


class SlackService:
    name = "slack"

    def __init__(
        self, bot_token: str, *, signing_secret: str | None, app_token: str | None,
        api_url: str | None, bot_user_id: str | None = None, post_interval_s: float = 1.0,
        edit_interval_s: float = 1.2, connect_timeout_s: float = 30.0, sweep_s: float = 5.0,
    ) -> None:  # fmt: skip
        if not app_token and not signing_secret:
            raise ConfigurationError(
                "Slack over the HTTP Events API needs SLACK_SIGNING_SECRET to check that "
                "requests come from Slack; set it, or set SLACK_APP_TOKEN for Socket Mode"
            )
        self._signing_secret = signing_secret or ""
        self._app_token = app_token or None
        self._bot_user_id = bot_user_id
        self._web = SlackWeb(web_client(bot_token, api_url), post_interval_s=post_interval_s)
        self._work = WorkInProgress(self._web)
        self._replies = SlackReplies(self._web, work=self._work, edit_interval_s=edit_interval_s)
        self._background = BackgroundWork("Slack")
        self._handlers: InboundHandlers | None = None
        self._socket: AsyncSocketModeHandler | None = None
        self._accepting = False
        self._connect_timeout_s = connect_timeout_s
        self._sweep_s = sweep_s
        self._sweeper: asyncio.Task[None] | None = None

    @property
    def transport(self) -> str:
        return "socket mode" if self._app_token else "http events"

    @property
    def platform(self) -> ChatPlatform:
        return self._replies

    def bind(self, handlers: InboundHandlers) -> None:
        self._handlers = handlers
        self._replies.use_refs(handlers.refs)

    @property
    def connected(self) -> bool:
        """Taking events (`/readyz`): in HTTP mode once started; in Socket Mode while the
        websocket is open and not stale (the client reconnects by itself)."""
        if not self._accepting:
            return False
        if self._socket is None:
            return True
        client = self._socket.client
        session = client.current_session
        return not client.closed and not client.stale and session is not None and not session.closed

    async def start(self, web_app: web.Application) -> None:
        if self._handlers is None:
            raise ConfigurationError("the Slack service must be bound to handlers before start")
        if self._bot_user_id is None:
            self._bot_user_id = (await self._web.identity()).user_id
        app = self._bolt_app(self._handlers, self._bot_user_id)
        self._accepting = True
        if self._app_token:
            await self._connect(app, self._app_token)
        else:
            handler = events_endpoint(app, self._signing_secret, lambda: self._accepting)
            web_app.router.add_post(EVENTS_PATH, handler)
        self._sweeper = asyncio.create_task(self._sweep_working_signs())
        log.info("Slack: started (%s)", self.transport)

    async def _sweep_working_signs(self) -> None:
        """👀 off questions another replica answered, every few seconds."""
        while True:
            await asyncio.sleep(self._sweep_s)
            try:
                await self._work.sweep(self._replies.posted_elsewhere)
            except Exception:  # a courtesy: the next round tries again
                log.warning("Slack: sweeping 👀 failed", exc_info=True)

    async def _connect(self, app: AsyncApp, app_token: str) -> None:
        """Open the Socket Mode websocket. The client retries forever on its own; a token
        Slack refuses must fail `buddy serve` instead, so the wait is bounded."""
        self._socket = AsyncSocketModeHandler(app, app_token)
        try:
            await asyncio.wait_for(
                self._socket.connect_async(),  # type: ignore[no-untyped-call]
                self._connect_timeout_s,
            )
        except TimeoutError as error:
            await self._socket.close_async()  # type: ignore[no-untyped-call]
            self._socket = None
            raise SlackUnavailable(
                f"Slack Socket Mode did not connect within {self._connect_timeout_s:g} s: "
                "check SLACK_APP_TOKEN (an xapp- token with connections:write)"
            ) from error

    def _bolt_app(self, handlers: InboundHandlers, bot_user_id: str) -> AsyncApp:
        app = AsyncApp(
            name="buddy",
            client=self._web.client,
            signing_secret=self._signing_secret,
            # Ack after the listener: what it stores (the question) is stored before Slack's
            # 200; the listeners only store and hand slow work to the background.
            process_before_response=True,
            # The route checks signatures on the raw bytes before anything is parsed.
            request_verification_enabled=False,
            # A library's logger, so it logs as libraries do (INFO and up: bot.logs): at DEBUG
            # bolt logs the bodies of its responses, which echo what users typed.
            logger=logging.getLogger("slack_bolt.buddy"),
        )
        SlackInbound(
            handlers, self._replies, self._work, self._web, self._background, bot_user_id
        ).register(app)
        SlashCommands(handlers, self._web, self._background).register(app)
        return app

    async def stop(self) -> None:
        self._accepting = False
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        if self._socket is not None:
            await self._socket.close_async()  # type: ignore[no-untyped-call]
            self._socket = None
        await self._background.drain(DRAIN_S)
