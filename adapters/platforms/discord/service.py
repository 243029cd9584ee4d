"""Discord inside `buddy serve` (domain.inbound.PlatformService).

`api_url` (DISCORD_API_URL, for tests) replaces Discord's REST base. discord.py reads it from
`discord.http.Route.BASE`, a class attribute, so the override is process-wide: one Discord
service per process, and `stop` puts the default back. The gateway URL then comes from that
server's `GET /gateway/bot` (discord.py's plain Client never asks), set as
`DiscordWebSocket.DEFAULT_GATEWAY`, also process-wide; without `api_url` discord.py's own
default (wss://gateway.discord.gg, what Discord's /gateway/bot names) stays."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import discord
import yarl
from discord.gateway import DiscordWebSocket
from discord.http import Route

from adapters.platforms.discord.client import BuddyClient, DiscordTiming
from adapters.platforms.discord.commands import BuddyCommands
from adapters.platforms.discord.errors import DiscordUnavailable, describe, discord_call
from adapters.platforms.discord.inbound import DiscordInbound
from adapters.platforms.discord.replies import DiscordReplies
from adapters.platforms.discord.working import WorkInProgress
from domain.conversation import ChatPlatform
from domain.errors import ConfigurationError
from domain.inbound import InboundHandlers

log = logging.getLogger(__name__)


class DiscordService:
    name = "discord"

    def __init__(
        self, token: str, *, api_url: str | None = None, timing: DiscordTiming | None = None
    ) -> None:
        self._token = token
        self._api_url = api_url.rstrip("/") if api_url else None
        self._timing = timing or DiscordTiming()
        self.client = BuddyClient(self._timing)
        self._work = WorkInProgress(self._channel)
        self._replies = DiscordReplies(self._channel, self._work, self._timing.edit_interval_s)
        self._connection: asyncio.Task[None] | None = None
        self._defaults: tuple[str, yarl.URL] | None = None

    @property
    def platform(self) -> ChatPlatform:
        return self._replies

    @property
    def connected(self) -> bool:
        """The gateway session is up (`/readyz`): false before READY, while discord.py
        reconnects after a lost session, and once stopped."""
        socket = getattr(self.client, "ws", None)
        running = self._connection is not None and not self._connection.done()
        return running and socket is not None and bool(socket.open) and self.client.is_ready()

    def bind(self, handlers: InboundHandlers) -> None:
        self._replies.refs = handlers.refs
        self.client.inbound = DiscordInbound(
            self.client, handlers, self._replies, self._work, self.client.active
        )
        self.client.tree.add_command(BuddyCommands(handlers, self._work))

    async def start(self, web_app: Any) -> None:
        """Log in, connect the gateway in the background, and return once READY. `web_app` is
        not used: Discord's events come over the gateway, not HTTP."""
        if self.client.inbound is None:
            raise ConfigurationError("DiscordService.bind must be called before start")
        self._point_at_api()
        try:
            async with discord_call("logging in"):
                await self.client.login(self._token)
            await self._use_gateway_of_api()
        except BaseException:
            await self._close()
            raise
        self._connection = asyncio.create_task(self.client.connect(reconnect=True))
        self._connection.add_done_callback(_log_end)
        await self._until_ready(self._connection)

    async def stop(self) -> None:
        """No new events; replies in flight get `drain_s` (they post through this client's HTTP
        session, which closes with it); what is left resumes from the outbox next start."""
        self.client.accepting = False
        if self._connection is not None:
            left = await self._work.wait_idle(self._timing.drain_s)
            if left:
                log.warning("discord: stopping with %d answer(s) still in flight", left)
        await self._close()

    async def _close(self) -> None:
        self._work.cancel_all()
        await self.client.close()
        if self._connection is not None:
            self._connection.cancel()
            await asyncio.gather(self._connection, return_exceptions=True)
            self._connection = None
        if self._defaults is not None:
            Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = self._defaults
            self._defaults = None

    def _channel(self, channel_id: str) -> discord.PartialMessageable:
        return self.client.get_partial_messageable(int(channel_id))

    def _point_at_api(self) -> None:
        if self._api_url is None:
            return
        self._defaults = (Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY)
        Route.BASE = self._api_url

    async def _use_gateway_of_api(self) -> None:
        if self._api_url is None:
            return
        try:
            _, url, _ = await self.client.http.get_bot_gateway()
        except discord.GatewayNotFound:
            log.warning("discord: %s has no /gateway/bot; using %s", self._api_url,
                        DiscordWebSocket.DEFAULT_GATEWAY)  # fmt: skip
            return
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(url)

    async def _until_ready(self, connection: asyncio.Task[None]) -> None:
        ready = asyncio.create_task(self.client.readied.wait())
        done, _ = await asyncio.wait(
            {ready, connection}, timeout=self._timing.ready_timeout_s,
            return_when=asyncio.FIRST_COMPLETED,
        )  # fmt: skip
        if ready in done:
            return
        ready.cancel()
        error = connection.exception() if connection.done() else None
        await self._close()
        if isinstance(error, discord.PrivilegedIntentsRequired):
            raise ConfigurationError(
                "Discord refused the Message Content intent: enable it for the bot in the "
                "Developer Portal (Bot > Privileged Gateway Intents)"
            ) from error
        why = describe(error) if error is not None else "no READY in time"
        raise DiscordUnavailable(f"Discord: connecting to the gateway failed: {why}") from error


def _log_end(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("discord: the gateway connection ended: %s", describe(task.exception()))  # type: ignore[arg-type]
