"""A fake of Ollama's HTTP API at the wire level, on a loopback ephemeral port.

POST /api/chat streams NDJSON parts like the real server; per-model behaviour is scripted:
a missing model answers 404, a slow one pauses between parts, a broken one drops the stream.
Models can be made as the real server makes them: HEAD/POST /api/blobs/sha256:<hex> (the digest
is checked), POST /api/create (`from` a known model plus `adapters` {file: digest}; an adapter
that is not GGUF is refused), POST /api/show and POST /api/generate (an empty prompt loads)."""

from __future__ import annotations

import asyncio
import hashlib
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
    blobs: dict[str, bytes] = field(default_factory=dict)  # "sha256:<hex>" -> content
    created: dict[str, dict[str, object]] = field(default_factory=dict)  # tag -> create body
    loaded: list[str] = field(default_factory=list)  # models loaded by /api/generate, in order

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
            method, path = lines[0].split()[:2]
            raw = await reader.readexactly(int(headers.get("content-length", "0")))
            if path.startswith("/api/blobs/"):
                self.requests.append({"path": path, "method": method, "size": len(raw)})
                await self._blob(method, path.removeprefix("/api/blobs/"), raw, writer)
                return
            body = json.loads(raw)
            self.requests.append({"path": path, **body})
            handler = {"/api/create": self._create, "/api/show": self._show,
                       "/api/generate": self._generate}.get(path, self._chat)  # fmt: skip
            await handler(body, writer)
        finally:
            writer.close()

    async def _blob(
        self, method: str, digest: str, raw: bytes, writer: asyncio.StreamWriter
    ) -> None:
        if method == "HEAD":
            writer.write(_head(200 if digest in self.blobs else 404, "text/plain", 0))
        elif "sha256:" + hashlib.sha256(raw).hexdigest() != digest:
            _reply(writer, 400, {"error": "digest mismatch"})
        else:
            self.blobs[digest] = raw
            writer.write(_head(201, "text/plain", 0))
        await writer.drain()

    async def _create(self, body: dict[str, object], writer: asyncio.StreamWriter) -> None:
        base = str(body.get("from"))
        adapters = body.get("adapters") or {}
        assert isinstance(adapters, dict)
        if base not in self.scripts or self.scripts[base].missing:
            _reply(writer, 404, {"error": f"model '{base}' not found"})
        elif any(d not in self.blobs for d in adapters.values()):
            _reply(writer, 400, {"error": "blob not found"})
        elif any(not self.blobs[d].startswith(b"GGUF") for d in adapters.values()):
            _reply(writer, 400, {"error": "invalid file magic"})
        else:
            tag = str(body["model"])
            self.created[tag] = body
            self.scripts[tag] = Script(parts=[f"{tag} ", "says ", "hi"])
            _reply(writer, 200, {"status": "success"})
        await writer.drain()

    async def _show(self, body: dict[str, object], writer: asyncio.StreamWriter) -> None:
        name = str(body.get("model"))
        if name not in self.scripts or self.scripts[name].missing:
            _reply(writer, 404, {"error": f"model '{name}' not found"})
        else:
            made = self.created.get(name, {})
            adapters = made.get("adapters") or {}
            assert isinstance(adapters, dict)
            lines = [f"FROM {made.get('from', name)}"] + [
                f"ADAPTER /root/.ollama/models/blobs/{d.replace(':', '-')}"
                for d in adapters.values()
            ]
            _reply(writer, 200, {"modelfile": "\n".join(lines), "details": {"format": "gguf"}})
        await writer.drain()

    async def _generate(self, body: dict[str, object], writer: asyncio.StreamWriter) -> None:
        name = str(body.get("model"))
        if name not in self.scripts or self.scripts[name].missing:
            _reply(writer, 404, {"error": f"model '{name}' not found"})
        else:
            self.loaded.append(name)
            _reply(writer, 200, {"model": name, "created_at": "2026-11-23T00:00:00Z",
                                 "response": "", "done": True, "done_reason": "load"})  # fmt: skip
        await writer.drain()

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


def _reply(writer: asyncio.StreamWriter, status: int, document: dict[str, object]) -> None:
    data = json.dumps(document).encode()
    writer.write(_head(status, "application/json", len(data)) + data)


def _head(status: int, content_type: str, length: int | None = None) -> bytes:
    reason = {200: "OK", 201: "Created", 400: "Bad Request", 404: "Not Found"}[status]
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
