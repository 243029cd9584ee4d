"""A fake of Slack on 127.0.0.1 with an ephemeral port: the Web API methods Buddy calls, the
response_url webhooks of slash commands, the file upload URL of files_upload_v2, and a Socket
Mode websocket. It records every call and can answer the next calls to a method with 429."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

BOT_USER = "UBOT"
BOT_ID = "BBOT"
TEAM = "T1"


@dataclass(frozen=True)
class SlackCall:
    method: str
    args: dict[str, Any]
    token: str | None
    at: float = field(default_factory=time.monotonic)
    status: int = 200


class FakeSlack:
    def __init__(self, *, bot_user: str = BOT_USER, team: str = TEAM) -> None:
        self.bot_user, self.team = bot_user, team
        self.calls: list[SlackCall] = []
        self.messages: list[dict[str, Any]] = []  # everything in the workspace, oldest first
        self.reactions: set[tuple[str, str, str]] = set()  # (channel, ts, name)
        self.responses: list[dict[str, Any]] = []  # what was posted to response_urls
        self.uploads: dict[str, bytes] = {}
        self.socket_acks: list[dict[str, Any]] = []
        self.on_socket_ack: Callable[[dict[str, Any]], None] = lambda ack: None
        self.app_token_valid = True
        self._throttled: dict[str, list[str]] = {}  # method -> Retry-After of each next call
        self._slow: dict[str, float] = {}  # method -> seconds before the (done) call answers
        self._clock = itertools.count(1)
        self._sockets: list[web.WebSocketResponse] = []
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    # -- control ---------------------------------------------------------------------------

    async def start(self) -> FakeSlack:
        app = web.Application()
        app.router.add_post("/api/{method}", self._api)
        app.router.add_get("/api/{method}", self._api)
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_post("/response/{name}", self._response)
        app.router.add_get("/socket", self._socket)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        for socket in list(self._sockets):
            await socket.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/"

    def response_url(self, name: str = "r1") -> str:
        return f"{self.base_url}/response/{name}"

    def throttle(self, method: str, times: int = 1, retry_after: str = "0") -> None:
        """Answer the next `times` calls to `method` with HTTP 429 and this Retry-After."""
        self._throttled.setdefault(method, []).extend([retry_after] * times)

    def slow_down(self, method: str, seconds: float) -> None:
        """Do calls to `method` at once but answer them late (a crash can fall in between)."""
        self._slow[method] = seconds

    def unthrottle(self, method: str) -> None:
        self._throttled.pop(method, None)

    def called(self, method: str, *, ok_only: bool = True) -> list[dict[str, Any]]:
        return [c.args for c in self.calls
                if c.method == method and (c.status == 200 or not ok_only)]  # fmt: skip

    def add_message(self, channel: str, text: str, *, user: str, thread_ts: str | None = None,
                    ts: str | None = None) -> str:  # fmt: skip
        ts = ts or self._next_ts()
        self.messages.append(
            {"type": "message", "channel": channel, "user": user, "text": text, "ts": ts,
             **({"thread_ts": thread_ts} if thread_ts else {})}
        )  # fmt: skip
        return ts

    async def wait_for(
        self, check: Callable[[], bool], timeout_s: float = 5.0, what: str = "a call"
    ) -> None:
        deadline = time.monotonic() + timeout_s
        while not check():
            if time.monotonic() > deadline:
                raise AssertionError(f"the fake Slack never saw {what}")
            await asyncio.sleep(0.005)

    async def push_envelope(self, envelope: dict[str, Any]) -> None:
        """Send a Socket Mode envelope to every connected client."""
        for socket in self._sockets:
            await socket.send_str(json.dumps(envelope))

    # -- the Web API -------------------------------------------------------------------------

    def _next_ts(self) -> str:
        return f"1700000{next(self._clock):03d}.000100"

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args = await _arguments(request)
        token = request.headers.get("Authorization", "").removeprefix("Bearer ") or None
        waits = self._throttled.get(method)
        if waits:
            retry_after = waits.pop(0)
            self.calls.append(SlackCall(method, args, token, status=429))
            return web.json_response({"ok": False, "error": "ratelimited"}, status=429,
                                     headers={"Retry-After": retry_after})  # fmt: skip
        self.calls.append(SlackCall(method, args, token))
        handler = getattr(self, "_" + method.replace(".", "_"), None)
        if handler is None:
            return web.json_response({"ok": False, "error": "unknown_method"})
        result = handler(args)  # done now; the answer may be slow to come back
        if method in self._slow:
            await asyncio.sleep(self._slow[method])
        return web.json_response(result)

    def _auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "user_id": self.bot_user, "bot_id": BOT_ID, "team_id": self.team,
                "user": "buddy", "team": "Test Team", "url": "https://test.slack.com/"}  # fmt: skip

    def _chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        ts = self._next_ts()
        message = {"type": "message", "channel": args["channel"], "user": self.bot_user,
                   "bot_id": BOT_ID, "text": args.get("text", ""), "ts": ts,
                   "blocks": args.get("blocks", [])}  # fmt: skip
        if args.get("thread_ts"):
            message["thread_ts"] = args["thread_ts"]
        if args.get("metadata"):
            message["metadata"] = args["metadata"]
        self.messages.append(message)
        return {"ok": True, "channel": args["channel"], "ts": ts, "message": message}

    def _chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        for message in self.messages:
            if message["channel"] == args["channel"] and message["ts"] == args["ts"]:
                message.update(text=args.get("text", ""), blocks=args.get("blocks", []))
                return {"ok": True, "channel": args["channel"], "ts": args["ts"]}
        return {"ok": False, "error": "message_not_found"}

    def _chat_postEphemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "message_ts": self._next_ts()}

    def _reactions_add(self, args: dict[str, Any]) -> dict[str, Any]:
        key = (args["channel"], args["timestamp"], args["name"])
        if key in self.reactions:
            return {"ok": False, "error": "already_reacted"}
        self.reactions.add(key)
        return {"ok": True}

    def _reactions_remove(self, args: dict[str, Any]) -> dict[str, Any]:
        key = (args["channel"], args["timestamp"], args["name"])
        if key not in self.reactions:
            return {"ok": False, "error": "no_reaction"}
        self.reactions.discard(key)
        return {"ok": True}

    def _conversations_history(self, args: dict[str, Any]) -> dict[str, Any]:
        top = [m for m in self.messages if m["channel"] == args["channel"]
               and m.get("thread_ts", m["ts"]) == m["ts"]]  # fmt: skip
        return {"ok": True, "messages": _window(top, args), "has_more": False}

    def _conversations_replies(self, args: dict[str, Any]) -> dict[str, Any]:
        root = next((m for m in self.messages if m["channel"] == args["channel"]
                     and m["ts"] == args["ts"]), None)  # fmt: skip
        if root is None:
            return {"ok": False, "error": "thread_not_found"}
        thread = root.get("thread_ts", root["ts"])
        found = [m for m in self.messages if m["channel"] == args["channel"]
                 and (m["ts"] == thread or m.get("thread_ts") == thread)]  # fmt: skip
        return {"ok": True, "messages": found, "has_more": False}

    def _conversations_open(self, args: dict[str, Any]) -> dict[str, Any]:
        users = str(args.get("users") or "")
        if not users or "," in users:
            return {"ok": False, "error": "not_implemented" if users else "users_list_not_supplied"}
        return {"ok": True, "channel": {"id": "D" + users.lstrip("UW")}}

    def uploaded(self) -> list[dict[str, Any]]:
        """Each completed upload: its channel, comment, file name and bytes."""
        found = []
        for args in self.called("files.completeUploadExternal"):
            files = args["files"]
            for file in json.loads(files) if isinstance(files, str) else files:
                found.append({"channel": args.get("channel_id"), "name": file.get("title"),
                              "comment": args.get("initial_comment"),
                              "content": self.uploads.get(file["id"], b"")})  # fmt: skip
        return found

    def _files_getUploadURLExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        file_id = f"F{next(self._clock)}"
        return {"ok": True, "file_id": file_id, "upload_url": f"{self.base_url}/upload/{file_id}"}

    def _files_completeUploadExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        files = args["files"]
        files = json.loads(files) if isinstance(files, str) else files
        return {"ok": True, "files": [{"id": f["id"], "title": f.get("title")} for f in files]}

    def _apps_connections_open(self, args: dict[str, Any]) -> dict[str, Any]:
        if not self.app_token_valid:
            return {"ok": False, "error": "invalid_auth"}
        return {"ok": True, "url": f"{self.base_url.replace('http', 'ws', 1)}/socket"}

    # -- beside the Web API --------------------------------------------------------------------

    async def _upload(self, request: web.Request) -> web.Response:
        self.uploads[request.match_info["file_id"]] = await request.read()
        return web.Response(text="OK - uploaded")

    async def _response(self, request: web.Request) -> web.Response:
        self.responses.append({"name": request.match_info["name"], **await request.json()})
        return web.Response(text="ok")

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse(autoping=True)
        await socket.prepare(request)
        self._sockets.append(socket)
        await socket.send_str(json.dumps({"type": "hello", "num_connections": 1}))
        async for message in socket:
            if message.type == WSMsgType.TEXT:
                ack = json.loads(message.data)
                self.on_socket_ack(ack)
                self.socket_acks.append(ack)
        self._sockets.remove(socket)
        return socket


async def _arguments(request: web.Request) -> dict[str, Any]:
    """Query, form and JSON arguments in one dict; JSON-encoded form fields decoded."""
    args: dict[str, Any] = dict(request.query)
    if request.content_type == "application/json":
        args.update(await request.json())
    elif request.can_read_body:
        for name, value in (await request.post()).items():
            args[name] = value if isinstance(value, str) else "<file>"
    for name in ("blocks", "files"):
        if isinstance(args.get(name), str) and args[name].startswith("["):
            args[name] = json.loads(args[name])
    return args


def _window(messages: list[dict[str, Any]], args: dict[str, Any]) -> list[dict[str, Any]]:
    latest = float(args.get("latest") or "inf")
    inclusive = str(args.get("inclusive", "0")).lower() in ("1", "true")
    kept = [m for m in messages
            if float(m["ts"]) < latest or (inclusive and float(m["ts"]) == latest)]  # fmt: skip
    kept.sort(key=lambda m: float(m["ts"]), reverse=True)
    return kept[: int(args.get("limit") or 100)]
