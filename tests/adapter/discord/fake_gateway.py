"""The websocket half of the fake Discord: HELLO, heartbeats, IDENTIFY -> READY + GUILD_CREATE,
RESUME -> replay + RESUMED, and what a test pushes: dispatches, RECONNECT, INVALID_SESSION.

Each session keeps its dispatches with their sequence numbers, so a RESUME replays what the
client missed (and, when a test asks, what it already had: Discord delivers at least once).
discord.py asks for `compress=zlib-stream`: every frame is then one zlib chunk ending in a
Z_SYNC_FLUSH, one compressor per connection, as Discord sends them."""

from __future__ import annotations

import json
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from tests.adapter.discord import payloads

JSON = dict[str, Any]
HEARTBEAT_INTERVAL_MS = 41_250
OP_DISPATCH, OP_HEARTBEAT, OP_IDENTIFY, OP_RESUME = 0, 1, 2, 6
OP_RECONNECT, OP_INVALID_SESSION, OP_HELLO, OP_HEARTBEAT_ACK = 7, 9, 10, 11


@dataclass
class Session:
    session_id: str
    dispatches: list[tuple[int, str, JSON]] = field(default_factory=list)

    @property
    def seq(self) -> int:
        return self.dispatches[-1][0] if self.dispatches else 0

    def record(self, event: str, data: JSON) -> int:
        self.dispatches.append((self.seq + 1, event, data))
        return self.seq


class Connection:
    def __init__(self, ws: web.WebSocketResponse, compressed: bool) -> None:
        self.ws = ws
        self._zlib = zlib.compressobj() if compressed else None

    async def send(self, frame: JSON) -> None:
        text = json.dumps(frame)
        if self._zlib is None:
            await self.ws.send_str(text)
        else:
            chunk = self._zlib.compress(text.encode()) + self._zlib.flush(zlib.Z_SYNC_FLUSH)
            await self.ws.send_bytes(chunk)


class FakeGateway:
    def __init__(self, notify: Callable[[], None], resume_url: Callable[[], str]) -> None:
        self._notify = notify
        self._resume_url = resume_url
        self.sessions: dict[str, Session] = {}
        self.session: Session | None = None
        self.connection: Connection | None = None
        self.received: list[JSON] = []  # every frame the client sent (heartbeats aside)
        self.connects: list[dict[str, str]] = []  # the query of each websocket connection
        self.identifies = 0
        self.resumes = 0
        self.replay_after: int | None = None  # the next RESUME replays from here
        self.guild_creates = True

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.connects.append(dict(request.query))
        connection = Connection(ws, request.query.get("compress") == "zlib-stream")
        await connection.send({"op": OP_HELLO, "d": {"heartbeat_interval": HEARTBEAT_INTERVAL_MS}})
        async for msg in ws:
            if msg.type is not WSMsgType.TEXT:
                continue
            frame = json.loads(msg.data)
            if frame["op"] == OP_HEARTBEAT:
                await connection.send({"op": OP_HEARTBEAT_ACK})
                continue
            self.received.append(frame)
            if frame["op"] == OP_IDENTIFY:
                await self._identify(connection)
            elif frame["op"] == OP_RESUME:
                await self._resume(connection, frame["d"])
            self._notify()
        if self.connection is connection:
            self.connection = None
            self._notify()
        return ws

    async def _identify(self, connection: Connection) -> None:
        self.identifies += 1
        self.session = session = Session(uuid.uuid4().hex)
        self.sessions[session.session_id] = session
        self.connection = connection
        ready = {"v": 10, "user": payloads.BOT, "session_id": session.session_id,
                 "resume_gateway_url": self._resume_url(), "guilds": [
                     {"id": payloads.GUILD_ID, "unavailable": True}],
                 "application": {"id": payloads.APP_ID, "flags": 0},
                 "private_channels": [], "relationships": []}  # fmt: skip
        await self.dispatch("READY", ready)
        if self.guild_creates:
            await self.dispatch("GUILD_CREATE", payloads.guild())

    async def _resume(self, connection: Connection, data: JSON) -> None:
        session = self.sessions.get(data["session_id"])
        if session is None or session is not self.session:
            await connection.send({"op": OP_INVALID_SESSION, "d": False})
            return
        self.resumes += 1
        self.connection = connection
        after = int(data["seq"] or 0)
        if self.replay_after is not None:
            after, self.replay_after = min(after, self.replay_after), None
        for seq, event, payload in session.dispatches:
            if seq > after:
                await self._send(seq, event, payload)
        await self.dispatch("RESUMED", {})

    async def dispatch(self, event: str, data: JSON) -> int:
        """Send a dispatch now, or keep it for the RESUME when no client is connected; its
        sequence number."""
        assert self.session is not None, "no client has identified yet"
        seq = self.session.record(event, data)
        await self._send(seq, event, data)
        return seq

    async def _send(self, seq: int, event: str, data: JSON) -> None:
        if self.connection is None or self.connection.ws.closed:
            return  # missed: a RESUME replays it, a new session never sees it
        await self.connection.send({"op": OP_DISPATCH, "s": seq, "t": event, "d": data})

    async def reconnect(self) -> None:
        """Op 7: the client drops the connection and resumes on resume_gateway_url."""
        await self._op(OP_RECONNECT, None)

    async def invalidate_session(self) -> None:
        """Op 9, d=false: the session is gone; the client must IDENTIFY again (new READY)."""
        if self.session is not None:
            self.sessions.pop(self.session.session_id, None)
        await self._op(OP_INVALID_SESSION, False)

    async def _op(self, op: int, data: Any) -> None:
        connection, self.connection = self.connection, None
        if connection is not None:
            await connection.send({"op": op, "d": data})
