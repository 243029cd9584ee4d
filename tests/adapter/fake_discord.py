"""A fake Discord at the wire level: ONE aiohttp app on a loopback ephemeral port serving the REST
routes discord.py calls (under /api/v10) and the websocket gateway (at /gateway).

Point discord.py at it with `Route.BASE = fake.api_url`; `GET /gateway/bot` then names the
fake's gateway. Every REST request is recorded; messages the bot posts land in the channel's
history (with Discord's `enforce_nonce` behaviour: a repeated nonce returns the first message);
`wait_for` lets a test await a condition without sleeping."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.adapter.discord import payloads
from tests.adapter.discord.fake_gateway import FakeGateway

JSON = dict[str, Any]
TOKEN = "fake-bot-token"
BODY = web.RequestKey("body", object)


@dataclass
class Recorded:
    method: str
    path: str  # without the /api/v10 prefix
    query: dict[str, str]
    body: Any = None  # the JSON body, or a multipart's payload_json
    files: list[tuple[str, bytes]] = field(default_factory=list)


class FakeDiscord:
    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.history: dict[str, list[JSON]] = {}  # channel id -> messages, oldest first
        self.interaction_channels: dict[str, str] = {}  # interaction token -> channel id
        self.commands: list[JSON] = []
        self.port = 0
        self._tick: asyncio.Future[None] | None = None
        self.gateway = FakeGateway(self.notify, lambda: self.ws_url)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v10"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    # What a test does -------------------------------------------------------------------------

    def notify(self) -> None:
        """Something changed: waiters re-check their condition."""
        tick, self._tick = self._tick, None
        if tick is not None and not tick.done():
            tick.set_result(None)

    async def wait_for(self, condition: Callable[[], Any], seconds: float = 5.0) -> Any:
        """Wait until `condition()` is truthy (re-checked on every request, gateway frame and
        whatever else calls `notify`)."""

        async def until() -> Any:
            while not (result := condition()):
                if self._tick is None:
                    self._tick = asyncio.get_running_loop().create_future()
                await asyncio.shield(self._tick)  # one waiter timing out leaves the others
            return result

        return await asyncio.wait_for(until(), seconds)

    def add_message(self, message: JSON) -> JSON:
        """A message in a channel's history (what the gateway would also announce)."""
        self.history.setdefault(message["channel_id"], []).append(message)
        return message

    async def post(self, message: JSON) -> int:
        """A user posts: into the history and out as MESSAGE_CREATE; its sequence number."""
        self.add_message(message)
        return await self.gateway.dispatch("MESSAGE_CREATE", message)

    async def interact(self, interaction: JSON) -> None:
        self.interaction_channels[interaction["token"]] = interaction["channel_id"]
        await self.gateway.dispatch("INTERACTION_CREATE", interaction)

    def calls(self, method: str, prefix: str = "") -> list[Recorded]:
        return [r for r in self.requests if r.method == method and r.path.startswith(prefix)]

    def bot_messages(self, channel_id: str) -> list[JSON]:
        found = self.history.get(channel_id, [])
        return [m for m in found if m["author"]["id"] == payloads.BOT_ID]

    # The REST API -----------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._record])
        app.router.add_get("/gateway", self.gateway.handle)
        api = "/api/v10"
        routes = [
            ("GET", "/gateway/bot", self._gateway_bot),
            ("GET", "/users/@me", self._me),
            ("POST", "/users/@me/channels", self._open_dm),
            ("GET", "/oauth2/applications/@me", self._application),
            ("PUT", "/applications/{app}/commands", self._sync_commands),
            ("GET", "/channels/{channel}/messages", self._history),
            ("POST", "/channels/{channel}/messages", self._create_message),
            ("GET", "/channels/{channel}/messages/{message}", self._get_message),
            ("PATCH", "/channels/{channel}/messages/{message}", self._edit_message),
            ("POST", "/channels/{channel}/typing", self._no_content),
            ("PUT", "/channels/{channel}/messages/{message}/reactions/{emoji}/@me",
             self._no_content),
            ("DELETE", "/channels/{channel}/messages/{message}/reactions/{emoji}/@me",
             self._no_content),
            ("POST", "/interactions/{id}/{token}/callback", self._interaction_callback),
            ("POST", "/webhooks/{app}/{token}", self._follow_up),
            ("PATCH", "/webhooks/{app}/{token}/messages/@original", self._edit_original),
        ]  # fmt: skip
        for method, path, handler in routes:
            app.router.add_route(method, api + path, handler)
        return app

    @web.middleware
    async def _record(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path.startswith("/api/v10"):
            body, files = await _body(request)
            request[BODY] = body
            path = request.path[len("/api/v10") :]
            self.requests.append(Recorded(request.method, path, dict(request.query), body, files))
            # Interaction callbacks and follow-ups authenticate by the token in their path.
            by_token = request.path.startswith(("/api/v10/interactions/", "/api/v10/webhooks/"))
            if not by_token and request.headers.get("Authorization") != f"Bot {TOKEN}":
                return _json({"message": "401: Unauthorized", "code": 0}, status=401)
        try:
            return await handler(request)  # type: ignore[no-any-return]
        finally:
            self.notify()

    async def _gateway_bot(self, _request: web.Request) -> web.Response:
        limit = {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1}
        return _json({"url": self.ws_url, "shards": 1, "session_start_limit": limit})

    async def _me(self, _request: web.Request) -> web.Response:
        return _json(payloads.BOT)

    async def _open_dm(self, request: web.Request) -> web.Response:
        """The bot's direct message channel with the recipient (one DM channel in this fake)."""
        recipient = payloads.USERS.get(str(request[BODY]["recipient_id"]))
        if recipient is None:
            return _json({"message": "Unknown User", "code": 10013}, status=404)
        return _json({"id": payloads.DM_CHANNEL_ID, "type": 1, "recipients": [recipient],
                      "last_message_id": None})  # fmt: skip

    async def _application(self, _request: web.Request) -> web.Response:
        return _json(payloads.application())

    async def _sync_commands(self, request: web.Request) -> web.Response:
        extra = {"application_id": payloads.APP_ID, "version": "1",
                 "default_member_permissions": None}  # fmt: skip
        self.commands = [{**c, **extra, "id": payloads.snowflake()} for c in request[BODY]]
        return _json(self.commands)

    async def _history(self, request: web.Request) -> web.Response:
        found = self.history.get(request.match_info["channel"], [])
        limit = int(request.query.get("limit", "50"))
        if "after" in request.query:
            after = int(request.query["after"])
            found = [m for m in found if int(m["id"]) > after][:limit]
        elif "before" in request.query:
            before = int(request.query["before"])
            found = [m for m in found if int(m["id"]) < before][-limit:]
        else:
            found = found[-limit:]
        return _json(list(reversed(found)))  # Discord: newest first

    async def _create_message(self, request: web.Request) -> web.Response:
        channel, body = request.match_info["channel"], request[BODY]
        nonce = body.get("nonce")
        if nonce is not None and body.get("enforce_nonce"):
            for earlier in self.bot_messages(channel):
                if earlier.get("nonce") == nonce:
                    return _json(earlier)
        reference = (body.get("message_reference") or {}).get("message_id")
        reference = None if reference is None else str(reference)
        attachments = [
            {"id": payloads.snowflake(), "filename": name, "size": len(data), "url": "x",
             "proxy_url": "x"}
            for name, data in self.requests[-1].files
        ]  # fmt: skip
        created = payloads.message(
            channel, payloads.BOT, body.get("content") or "", guild_id=_guild_of(channel),
            reference=reference, nonce=nonce, attachments=attachments,
        )  # fmt: skip
        return _json(self.add_message(created))

    async def _get_message(self, request: web.Request) -> web.Response:
        found = self._find(request.match_info["channel"], request.match_info["message"])
        if found is None:
            return _json({"message": "Unknown Message", "code": 10008}, status=404)
        return _json(found)

    async def _edit_message(self, request: web.Request) -> web.Response:
        found = self._find(request.match_info["channel"], request.match_info["message"])
        if found is None:
            return _json({"message": "Unknown Message", "code": 10008}, status=404)
        found["content"] = request[BODY].get("content", found["content"])
        found["edited_timestamp"] = payloads.TIMESTAMP
        return _json(found)

    async def _no_content(self, _request: web.Request) -> web.Response:
        return web.Response(status=204)

    async def _interaction_callback(self, request: web.Request) -> web.Response:
        kind = request[BODY]["type"]
        flags = (request[BODY].get("data") or {}).get("flags", 0)
        interaction = {"id": request.match_info["id"], "type": 2,
                       "response_message_loading": kind == 5,
                       "response_message_ephemeral": bool(flags & 64)}  # fmt: skip
        return _json({"interaction": interaction, "resource": {"type": kind}})

    async def _follow_up(self, request: web.Request) -> web.Response:
        channel = self.interaction_channels.get(request.match_info["token"], "0")
        content = request[BODY].get("content") or ""
        created = payloads.message(channel, payloads.BOT, content, guild_id=_guild_of(channel))
        created["webhook_id"] = payloads.APP_ID
        return _json(self.add_message(created))

    async def _edit_original(self, request: web.Request) -> web.Response:
        channel = self.interaction_channels.get(request.match_info["token"], "0")
        content = request[BODY].get("content") or ""
        return _json(payloads.message(channel, payloads.BOT, content))

    def _find(self, channel: str, message_id: str) -> JSON | None:
        return next((m for m in self.history.get(channel, []) if m["id"] == message_id), None)


def _json(data: Any, status: int = 200) -> web.Response:
    # Exactly "application/json", no charset: discord.py compares the header as a string.
    return web.Response(body=json.dumps(data).encode(), status=status,
                        headers={"Content-Type": "application/json"})  # fmt: skip


def _guild_of(channel: str) -> str | None:
    return None if channel == payloads.DM_CHANNEL_ID else payloads.GUILD_ID


async def _body(request: web.Request) -> tuple[Any, list[tuple[str, bytes]]]:
    if request.content_type == "application/json":
        return await request.json(), []
    if not request.content_type.startswith("multipart/"):
        return None, []
    body: Any = None
    files: list[tuple[str, bytes]] = []
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        data = await part.read()  # type: ignore[union-attr]
        if part.name == "payload_json":
            body = json.loads(data)
        else:
            files.append((part.filename or "", bytes(data)))  # type: ignore[union-attr]
    return body, files


@asynccontextmanager
async def running_fake_discord() -> AsyncIterator[FakeDiscord]:
    fake = FakeDiscord()
    runner = web.AppRunner(fake.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    fake.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield fake
    finally:
        await runner.cleanup()
