"""A fake of Ollama's HTTP API at the wire level, on a loopback ephemeral port.

POST /api/chat streams NDJSON parts like the real server; per-model behaviour is scripted:
a missing model answers 404, a slow one pauses between parts, a broken one drops the stream."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field


@dataclass
class Script:
    parts: list[str] = field(default_factory=lambda: ["Run ", "make ", "rollback", " [1]."])
    delay_s: float = 0.0
    missing: bool = False
    drop_after: int | None = None


@dataclass
class FakeOllama:
    scripts: dict[str, Script] = field(default_factory=dict)
    requests: list[dict[str, object]] = field(default_factory=list)
    port: int = 0

    @property
    def host(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode().split("\r\n")
            headers = {
                k.lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:] if h)
            }
            body = json.loads(await reader.readexactly(int(headers.get("content-length", "0"))))
            self.requests.append({"path": lines[0].split()[1], **body})
            await self._chat(body, writer)
        finally:
            writer.close()

    async def _chat(self, body: dict[str, object], writer: asyncio.StreamWriter) -> None:
        script = self.scripts.get(str(body["model"]))
        if script is None or script.missing:
            error = json.dumps({"error": f"model '{body['model']}' not found"}).encode()
            writer.write(_head(404, "application/json", len(error)) + error)
            await writer.drain()
            return
        writer.write(_head(200, "application/x-ndjson"))
        for index, text in enumerate(script.parts):
            if script.drop_after is not None and index >= script.drop_after:
                return  # the connection closes mid-stream
            await asyncio.sleep(script.delay_s)
            writer.write(_part(str(body["model"]), text, done=False))
            await writer.drain()
        final = {"prompt_eval_count": 42, "eval_count": len(script.parts)}
        writer.write(_part(str(body["model"]), "", done=True, **final))
        await writer.drain()


def _head(status: int, content_type: str, length: int | None = None) -> bytes:
    reason = {200: "OK", 404: "Not Found"}[status]
    size = f"Content-Length: {length}\r\n" if length is not None else ""
    return (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n{size}"
        "Connection: close\r\n\r\n"
    ).encode()


def _part(model: str, text: str, *, done: bool, **extra: int) -> bytes:
    message = {"role": "assistant", "content": text}
    document = {"model": model, "created_at": "2026-11-23T00:00:00Z", "message": message,
                "done": done, **extra}  # fmt: skip
    return json.dumps(document).encode() + b"\n"


@asynccontextmanager
async def running(fake: FakeOllama) -> AsyncIterator[FakeOllama]:
    server = await asyncio.start_server(fake.handle, "127.0.0.1", 0)
    fake.port = server.sockets[0].getsockname()[1]
    async with server:
        yield fake
